// The popup and options pages render message-derived text as text, never as markup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHTML } from "linkedom";
import { renderPopup, reasonText } from "../../extension/popup/popup-view.js";
import { renderOptions } from "../../extension/options/options-view.js";
import { buildPopupModel, senderAddress } from "../../extension/background/popup-model.js";
import { MergedVerdict } from "../../extension/background/verdict.js";
import { makeGetMessage } from "./fake-messenger.mjs";

const t = makeGetMessage("en");
const HOSTILE_URL = 'https://evil.example/p.gif?x="><img src=x onerror=alert(1)><script>alert(2)</script>';
const HOSTILE_COMPANY = "<b>Acme</b><img src=x onerror=alert(3)>";

function dom() {
  const { document } = parseHTML("<!DOCTYPE html><html><body><main id=root></main></body></html>");
  return { document, root: document.getElementById("root") };
}

function sessionWith(resources, extra = {}) {
  const verdict = new MergedVerdict();
  verdict.set(1, { source: "t", sender_domain: "shop.example", mode: "strict", image_only: false, resources, ...extra });
  return {
    message: { id: 1, headerMessageId: "m1@shop.example", subject: "<i>subject</i>", author: "Shop <news@shop.example>" },
    headers: { from: ["Shop <news@shop.example>"] },
    verdict,
    outcome: "settled",
    injected: new Set(resources.filter((r) => r.action === "allow").map((r) => r.url)),
    thunderbirdLoaded: new Set(),
  };
}

const HOST = { state: "ready", host_version: "0.1.0", protocol: 1, error: null };

test("a hostile URL and company name render as text in the popup", () => {
  const session = sessionWith([
    { url: HOSTILE_URL, kind: "image", action: "block", tracker: true, party: "third", company: HOSTILE_COMPANY, leaks: [], reasons: ["known_tracker:<svg onload=alert(4)>", "address_leak:md5"] },
    { url: "https://cdn.example/<x>.png", kind: "image", action: "block", tracker: false, party: "third", company: null, leaks: [], reasons: ["third_party"] },
  ]);
  const { document, root } = dom();
  renderPopup(document, root, buildPopupModel(session, HOST), t);
  assert.equal(root.querySelectorAll("img, script, b, svg, i").length, 0, "no element came from message data");
  assert.ok(root.textContent.includes(HOSTILE_COMPANY));
  assert.ok(root.textContent.includes("Known tracker (<svg onload=alert(4)>)"));
  assert.ok(root.textContent.includes("Sends your address (MD5)"));
  const host = root.querySelector(".host");
  assert.equal(host.textContent, "evil.example");
  assert.equal(host.getAttribute("title"), new URL(HOSTILE_URL).href);
});

test("popup groups trackers by company and counts the other blocked content", () => {
  const tr = (url, company, reasons) => ({ url, kind: "image", action: "block", tracker: true, party: "third", company, leaks: [], reasons });
  const session = sessionWith([
    tr("https://a.mailchimp.example/o", "Intuit", ["known_tracker:mailchimp"]),
    tr("https://b.mailchimp.example/o", "Intuit", ["open_pixel"]),
    tr("https://img.shop.example/t", null, ["cname:sendgrid.net", "hidden_image"]),
    { url: "https://cdn.example/a.png", kind: "image", action: "block", tracker: false, party: "third", company: null, leaks: [], reasons: ["third_party"] },
    { url: "https://img.shop.example/logo.png", kind: "image", action: "allow", tracker: false, party: "first", company: null, leaks: [], reasons: ["first_party"] },
  ]);
  const model = buildPopupModel(session, HOST);
  assert.equal(model.trackers.count, 3);
  assert.deepEqual(model.trackers.companies.map((c) => [c.company, c.entries.length]), [["Intuit", 2], [null, 1]]);
  assert.equal(model.other_blocked.count, 1);
  assert.equal(model.allowed, 1);
  const { document, root } = dom();
  renderPopup(document, root, model, t);
  assert.ok([...root.querySelectorAll("details")].every((d) => d.hasAttribute("open")), "few companies: reasons shown at once");
  const names = [...root.querySelectorAll(".company-name")].map((n) => n.textContent);
  assert.deepEqual(names, ["Intuit", "Unidentified tracker"]);
  assert.ok(root.textContent.includes("Hidden behind the sender's domain via DNS (sendgrid.net)"));
  const buttons = [...root.querySelectorAll("button")].map((b) => b.textContent);
  assert.deepEqual(buttons, ["Load the rest of this message", "Always load content from news@shop.example", "Always load content from the domain shop.example"]);
});

test("popup buttons are real buttons that call back with the choice", () => {
  const session = sessionWith([{ url: "https://cdn.example/a.png", kind: "image", action: "block", tracker: false, party: "third", company: null, leaks: [], reasons: [] }]);
  const { document, root } = dom();
  const calls = [];
  renderPopup(document, root, buildPopupModel(session, HOST, [{ scope: "sender", value: "news@shop.example", action: "allow" }]), t, (...a) => calls.push(a));
  const buttons = [...root.querySelectorAll("button")];
  assert.ok(buttons.every((b) => b.getAttribute("type") === "button"));
  for (const b of buttons) b.dispatchEvent(new document.defaultView.Event("click"));
  assert.deepEqual(calls, [
    ["allow", "message", "m1@shop.example"],
    ["revoke", "sender", "news@shop.example"],
    ["allow", "domain", "shop.example"],
  ]);
});

test("popup states: host missing, failing, checking, image-only, Thunderbird's own exception", () => {
  const { document, root } = dom();
  const s = sessionWith([]);
  renderPopup(document, root, buildPopupModel({ ...s, outcome: "host_failing" }, { ...HOST, state: "missing" }), t);
  assert.match(root.textContent, /not installed/);
  renderPopup(document, root, buildPopupModel({ ...s, outcome: "host_failing" }, HOST), t);
  assert.match(root.textContent, /not responding/);
  renderPopup(document, root, buildPopupModel({ ...s, verdict: new MergedVerdict(), outcome: "running" }, HOST), t);
  assert.match(root.textContent, /Checking/);
  const img = sessionWith([{ url: "https://t.example/p", kind: "image", action: "block", tracker: true, party: "third", company: "T", leaks: [], reasons: [] }], { image_only: true });
  img.thunderbirdLoaded = new Set(["https://t.example/p"]);
  renderPopup(document, root, buildPopupModel(img, HOST), t);
  assert.match(root.textContent, /almost only of images/);
  assert.match(root.textContent, /let 1 tracker\(s\) load/);
});

test("options page: override values from messages render as text; remove calls back", () => {
  const { document, root } = dom();
  const revoked = [];
  renderOptions(
    document,
    root,
    {
      addon_version: "0.1.0",
      host: HOST,
      lists: [{ name: "<b>list</b>", age_days: 3 }],
      warnings: ["<script>x</script>"],
      uncloaking_available: true,
      settings: { mode: "relaxed", uncloak: false, resolver: "127.0.0.1:53" },
      overrides: [{ scope: "sender", value: "<img src=x>@evil.example", action: "allow" }],
    },
    t,
    { save() {}, revoke: (o) => revoked.push(o), reconnect() {} },
  );
  assert.equal(root.querySelectorAll("img, script, b").length, 0);
  assert.ok(root.textContent.includes("<img src=x>@evil.example"));
  assert.ok(root.textContent.includes("<b>list</b>: updated 3 day(s) ago"));
  assert.ok(!root.textContent.includes("null"));
  assert.ok(root.querySelector('input[value="relaxed"]').checked);
  assert.equal(root.querySelector("#uncloak").checked, false);
  root.querySelector("td button").dispatchEvent(new document.defaultView.Event("click"));
  assert.equal(revoked[0].value, "<img src=x>@evil.example");
});

test("options page when the host is down: doctor hint and a retry button, settings disabled", () => {
  const { document, root } = dom();
  renderOptions(document, root, { addon_version: "0.1.0", host: { state: "missing", error: "No such native application pixelwarden" }, lists: [], warnings: [], uncloaking_available: true, settings: null, overrides: [] }, t, { save() {}, revoke() {}, reconnect() {} });
  assert.match(root.textContent, /pixelwarden install/);
  assert.match(root.textContent, /pixelwarden doctor/);
  assert.ok(root.querySelector('button[type="submit"]').disabled);
});

test("reason words: details shown in parentheses, unknown codes shown as such", () => {
  assert.equal(reasonText(t, { key: "reasonAddressLeak", detail: "MD5" }), "Sends your address (MD5)");
  assert.equal(reasonText(t, { key: "reasonUnknown", detail: "new_code:x" }), "Other reason (new_code:x)");
});

test("sender address parsing", () => {
  assert.equal(senderAddress(["Shop <News@Shop.Example>"]), "news@shop.example");
  assert.equal(senderAddress(["news@shop.example"]), "news@shop.example");
  assert.equal(senderAddress(["Undisclosed"]), null);
  assert.equal(senderAddress(undefined), null);
});
