// Properties of the add-on's files: locales complete, no HTML strings, no remote code, strict CSP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { EXTENSION_DIR } from "./fake-messenger.mjs";
import { reasonKeys } from "../../extension/background/reasons.js";

function files(dir = EXTENSION_DIR) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}
const code = files().filter((f) => /\.(js|html)$/.test(f));
const locale = (lang) => JSON.parse(readFileSync(path.join(EXTENSION_DIR, "_locales", lang, "messages.json"), "utf8"));

test("every message key used in code or the manifest exists in English and French", () => {
  const used = new Set(reasonKeys());
  for (const file of [...code, path.join(EXTENSION_DIR, "manifest.json")]) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\bt\(\s*"([A-Za-z0-9_]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/getMessage\(\s*"([A-Za-z0-9_]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/__MSG_([A-Za-z0-9_]+)__/g)) used.add(m[1]);
    for (const m of text.matchAll(/\bkey: "([A-Za-z0-9_]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/"((?:popup|options|badgeTitle|reason)[A-Z][A-Za-z0-9]*)"/g)) used.add(m[1]);
  }
  for (const lang of ["en", "fr"]) {
    const messages = locale(lang);
    const missing = [...used].filter((k) => !(k in messages));
    assert.deepEqual(missing, [], `missing in ${lang}`);
  }
});

test("English and French have the same keys and the same placeholders", () => {
  const en = locale("en");
  const fr = locale("fr");
  assert.deepEqual(Object.keys(fr).sort(), Object.keys(en).sort());
  for (const key of Object.keys(en)) {
    const holes = (m) => [...m.message.matchAll(/\$[A-Z0-9_]+\$/g)].map((x) => x[0]).sort();
    assert.deepEqual(holes(fr[key]), holes(en[key]), key);
    assert.notEqual(fr[key].message.trim(), "", key);
  }
});

test("no innerHTML, outerHTML, insertAdjacentHTML, document.write, eval or Function in the add-on", () => {
  for (const file of code) {
    const text = readFileSync(file, "utf8").replace(/^\s*(\/\/|\*|\/\*).*$/gm, "");
    assert.doesNotMatch(text, /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\s*\(|new Function\s*\(|setTimeout\(\s*["'`])/, file);
  }
});

test("no remote code: every script is a local file", () => {
  for (const file of files().filter((f) => f.endsWith(".html"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)) {
      assert.doesNotMatch(m[1], /^[a-z]+:|^\/\//i, `${file}: ${m[1]}`);
    }
    assert.doesNotMatch(text, /<script>(?!\s*<\/script>)/, `${file}: inline script`);
  }
});

test("manifest: MV2, strict CSP, persistent background, version written by the build", () => {
  const manifest = JSON.parse(readFileSync(path.join(EXTENSION_DIR, "manifest.json"), "utf8"));
  assert.equal(manifest.manifest_version, 2);
  assert.equal(manifest.version, "0.0.0", "the source manifest carries a placeholder; `make xpi` writes the real version");
  assert.equal(manifest.browser_specific_settings.gecko.id, "pixelwarden@pixelwarden.org");
  const csp = Object.fromEntries(manifest.content_security_policy.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  assert.deepEqual(csp["default-src"], ["'none'"]);
  assert.deepEqual(csp["script-src"], ["'self'"]);
  assert.deepEqual(csp["object-src"], ["'none'"]);
  assert.ok(!manifest.content_security_policy.includes("unsafe"));
  assert.equal(manifest.background.persistent, true);
  assert.ok(manifest.permissions.includes("<all_urls>"), "MV2 host permission for the background's fetches");
});
