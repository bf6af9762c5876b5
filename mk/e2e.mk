# End to end in a real Thunderbird (issue 6; tests/e2e/README.md). Included by the Makefile.
#   make e2e                                    labelled fixtures, fault cases, screenshots
#   make e2e MESSAGES=DIR REPORT=FILE [ZONE=F]  any folder of .eml files (e.g. ../shared/corpus)
#   make run                                    your Thunderbird, a fresh temporary profile, a demo mailbox
#   make e2e THUNDERBIRD=PATH                   another Thunderbird program (e.g. an older ESR)
MESSAGES ?=
THUNDERBIRD ?=
REPORT ?=
ZONE ?=
E2E_OUTPUT ?= build/e2e

# Thunderbird to run: PATH to its program (the real binary, not Debian's /usr/bin wrapper, which
# always starts /usr/lib/thunderbird). Empty: `thunderbird` on PATH.
E2E_TB := $(if $(strip $(THUNDERBIRD)),--thunderbird '$(THUNDERBIRD)')

E2E_ARGS := --output $(E2E_OUTPUT) $(E2E_TB)
ifneq ($(strip $(MESSAGES)),)
E2E_ARGS += --messages '$(MESSAGES)'
endif
ifneq ($(strip $(REPORT)),)
E2E_ARGS += --report '$(REPORT)'
endif
ifneq ($(strip $(ZONE)),)
E2E_ARGS += --zone '$(ZONE)'
endif

.PHONY: e2e e2e-corpus e2e-canary run screenshots

# The harness checks itself first: its rules (pytest, loopback only, ~5 s), then its plumbing in
# a real Thunderbird with the canary add-on (~5 s); then the real run.
e2e: install xpi
	$(BIN)/pytest -q tests/e2e
	$(BIN)/python tests/e2e/run_e2e.py --canary --output $(E2E_OUTPUT) $(E2E_TB)
	$(BIN)/python tests/e2e/run_e2e.py $(E2E_ARGS)

# The shared corpus of real mail, inside the private network namespace only (nothing can leave).
e2e-corpus: install xpi
	@if [ -d '$(CORPUS)' ]; then \
	  $(BIN)/python tests/e2e/run_e2e.py --output build/e2e-corpus --messages '$(CORPUS)' \
	    --report build/e2e-corpus/report.json $(E2E_TB); \
	else echo "e2e-corpus: $(CORPUS) is absent, skipped"; fi

run: install xpi
	$(BIN)/python tests/e2e/demo.py

# Screenshots of the badge and the open popup for the README (Xvfb), into docs/screenshots/.
screenshots: install xpi
	$(BIN)/python tests/e2e/run_e2e.py --only screenshots --update-docs $(E2E_TB)

# The harness alone, with a tiny test add-on instead of Pixel Warden (tells a broken harness from a
# broken add-on).
e2e-canary: install
	$(BIN)/python tests/e2e/run_e2e.py --canary $(E2E_TB)
