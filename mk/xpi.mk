# The Thunderbird add-on (issue 5): build, unit tests, lint. Included by the top-level Makefile.
# The add-on's version is written from host/pixelwarden/__init__.py (the single version source).

XPI_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' host/pixelwarden/__init__.py)
XPI := build/pixelwarden-$(XPI_VERSION).xpi
XPI_SOURCES := $(shell find extension -type f ! -name '*.md')
NODE_DEPS := node_modules/.package-lock.json

.PHONY: xpi test-extension lint-extension

xpi: $(XPI)

$(XPI): $(XPI_SOURCES) host/pixelwarden/__init__.py mk/xpi.mk
	rm -rf build/extension $@
	mkdir -p build/extension
	cd extension && find . -type f ! -name '*.md' -exec install -D -m 644 {} ../build/extension/{} \;
	python3 -c 'import json, sys; p = "build/extension/manifest.json"; m = json.load(open(p)); m["version"] = sys.argv[1]; open(p, "w").write(json.dumps(m, indent=2, ensure_ascii=False) + "\n")' '$(XPI_VERSION)'
	cd build/extension && python3 -m zipfile -c ../$(notdir $@) $$(ls -A)
	@echo "built $@"

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-extension: $(NODE_DEPS)
	node --test tests/extension/

lint-extension: $(XPI) $(NODE_DEPS)
	npx --no-install addons-linter --output text $(XPI)
