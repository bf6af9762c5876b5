// Merging the host's answers for one display: fail closed in every combination.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MergedVerdict, normalizeUrl } from "../../extension/background/verdict.js";

const r = (url, action, extra = {}) => ({ url, kind: "image", action, tracker: false, party: "first", company: null, leaks: [], reasons: [], ...extra });
const verdict = (...resources) => ({ source: "thunderbird:1", sender_domain: "shop.example", mode: "strict", image_only: false, resources });

test("a URL no answer mentions is blocked", () => {
  const v = new MergedVerdict();
  assert.equal(v.isAllowed("https://a.example/x"), false);
  v.set(1, verdict(r("https://a.example/x", "allow")));
  assert.equal(v.isAllowed("https://a.example/x"), true);
  assert.equal(v.isAllowed("https://a.example/y"), false);
});

test("truth table across requests: block wins, the tracker label sticks", () => {
  const cases = [
    ["allow", false, "allow", false, true],
    ["allow", false, "block", false, false],
    ["block", false, "allow", false, false],
    ["allow", true, "allow", false, false],
    ["allow", false, "allow", true, false],
  ];
  for (const [a1, t1, a2, t2, allowed] of cases) {
    const v = new MergedVerdict();
    v.set(1, verdict(r("https://a.example/x", a1, { tracker: t1 })));
    v.set(2, verdict(r("https://a.example/x", a2, { tracker: t2 })));
    assert.equal(v.isAllowed("https://a.example/x"), allowed, `${a1}/${t1} + ${a2}/${t2}`);
    assert.equal(v.decision("https://a.example/x").tracker, t1 || t2);
  }
});

test("a later answer to the same request replaces the earlier one (late DNS update)", () => {
  const v = new MergedVerdict();
  v.set(5, verdict(r("https://img.shop.example/a.png", "block", { reasons: ["dns_pending"] })));
  assert.equal(v.isAllowed("https://img.shop.example/a.png"), false);
  v.set(5, verdict(r("https://img.shop.example/a.png", "allow", { reasons: ["first_party"] })));
  assert.equal(v.isAllowed("https://img.shop.example/a.png"), true);
  assert.deepEqual(v.decision("https://img.shop.example/a.png").reasons, ["first_party"]);
});

test("counts: trackers blocked, other blocked, allowed; each URL once", () => {
  const v = new MergedVerdict();
  v.set(1, verdict(r("https://t.example/p", "block", { tracker: true }), r("https://o.example/b", "block"), r("https://s.example/l", "allow")));
  v.set(2, verdict(r("https://t.example/p", "block", { tracker: true }), r("https://t2.example/q", "block", { tracker: true })));
  assert.deepEqual(v.counts(), { trackers_blocked: 2, blocked: 3, allowed: 1, other_blocked: 1 });
  assert.equal(v.toJSON().resources.length, 4);
});

test("URLs are compared in their WHATWG form; non-http URLs are never allowed", () => {
  const v = new MergedVerdict();
  v.set(1, verdict(r("HTTPS://Img.Shop.Example:443/a b.png#frag", "allow"), r("javascript:alert(1)", "allow")));
  assert.equal(v.isAllowed("https://img.shop.example/a%20b.png"), true);
  assert.equal(v.isAllowed("javascript:alert(1)"), false);
  assert.equal(normalizeUrl("data:image/png;base64,AA"), null);
});

test("malformed answers are ignored rather than trusted", () => {
  const v = new MergedVerdict();
  v.set(1, { resources: "nope" });
  v.set(2, null);
  assert.equal(v.main, null);
  v.set(3, verdict({ url: "https://a.example/x", action: "ALLOW" }));
  assert.equal(v.isAllowed("https://a.example/x"), false);
});

test("forgetting a request's answer removes its decisions", () => {
  const v = new MergedVerdict();
  v.set(1, verdict(r("https://a.example/x", "block")));
  v.set(2, verdict(r("https://a.example/x", "allow")));
  assert.equal(v.isAllowed("https://a.example/x"), false);
  v.delete(1);
  assert.equal(v.isAllowed("https://a.example/x"), true);
  assert.equal(v.main.resources[0].action, "allow");
});
