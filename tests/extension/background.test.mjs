// The background's coordination: display events, host answers, badge per tab, choices.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeHost, makeMessage, ref, PNG, settle } from "./fake-messenger.mjs";
import { startWarden, show, decideBy } from "./helpers.mjs";

const LOGO = "http://img.shop.example/logo.png";
const PIXEL = "https://pixel.tracker.example/open?u=1";
const BANNER = "https://cdn.other.example/banner.png";

function newsletter(id = 1) {
  return makeMessage(id, { html: `<img src="${LOGO}"><img src="${PIXEL}"><img src="${BANNER}">`, refs: [ref(LOGO), ref(PIXEL), ref(BANNER)] });
}

function routeAll(fake) {
  for (const url of [LOGO, PIXEL, BANNER]) fake.network.route(url, { type: "image/png", body: PNG });
}

test("registers the display script with paths that exist from the add-on root", async () => {
  const { fake } = await startWarden();
  assert.equal(fake.registered.length, 1);
  assert.deepEqual(fake.registered[0].js, ["shared/css-urls.js", "display/display.js"]);
});

test("a displayed message is classified with its HTML, headers and rendered references", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const message = newsletter();
  const { fake, warden } = await startWarden({ host, messages: [message] });
  routeAll(fake);
  await show(fake, warden, 1, message);
  const [classify] = host.of("classify");
  assert.equal(classify.message.key, 1);
  assert.equal(classify.message.message_id, "<m1@shop.example>");
  assert.match(classify.message.html, /logo\.png/);
  assert.deepEqual(classify.message.headers.from, ["Shop <news@shop.example>"]);
  assert.deepEqual(classify.rendered.map((r) => r.url), [LOGO, PIXEL, BANNER]);
  assert.equal(typeof classify.id, "number");
});

test("only allowed resources are fetched and put back; trackers and third parties are not", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const message = newsletter();
  const { fake, warden } = await startWarden({ host, messages: [message] });
  routeAll(fake);
  const { port, session } = await show(fake, warden, 1, message);
  assert.deepEqual(fake.network.requests.map((r) => r.url), [LOGO]);
  const injects = port.received.filter((m) => m.type === "inject");
  assert.equal(injects.length, 1);
  assert.equal(injects[0].url, LOGO);
  assert.match(injects[0].dataUrl, /^data:image\/png;base64,iVBOR/);
  assert.deepEqual([...session.injected], [LOGO]);
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "1");
});

test("badge per tab: each tab shows its own message's tracker count", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example", "cdn.other.example"] }) });
  const a = newsletter(1);
  const b = makeMessage(2, { refs: [ref(LOGO)] });
  const { fake, warden } = await startWarden({ host, messages: [a, b] });
  routeAll(fake);
  await show(fake, warden, 1, a);
  await show(fake, warden, 7, b);
  const text = (tabId) => fake.messenger.messageDisplayAction.getBadgeText({ tabId });
  assert.equal(await text(1), "2");
  assert.equal(await text(7), "0");
  assert.match(await fake.messenger.messageDisplayAction.getTitle({ tabId: 1 }), /2 tracker/);
});

test("selecting several messages clears the badge and closes the session", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  const { session } = await show(fake, warden, 1, a);
  fake.displayMany(1, [a.header, makeMessage(2).header]);
  await settle();
  assert.equal(warden.sessions.get(1), undefined);
  assert.equal(session.closed, true);
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "");
});

test("a new message in the same tab replaces the session; the old one stops injecting", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const a = newsletter(1);
  const b = makeMessage(2, { refs: [] });
  const { fake, warden } = await startWarden({ host, messages: [a, b] });
  routeAll(fake);
  host.silent.add("classify"); // the first message's answer never comes
  const first = fake.display(1, a.header, a.refs);
  await settle();
  const old = warden.sessions.get(1);
  host.silent.delete("classify");
  await show(fake, warden, 1, b);
  assert.equal(old.closed, true);
  assert.equal(warden.sessions.get(1).message.id, 2);
  assert.equal(first.received.filter((m) => m.type === "inject").length, 0);
});

test("host not installed: badge says so, nothing is fetched, popup explains", async () => {
  const host = new FakeHost({ installed: false, decide: decideBy() });
  const message = newsletter();
  const { fake, warden } = await startWarden({ host, messages: [message] });
  routeAll(fake);
  assert.equal(warden.host.state, "missing");
  await show(fake, warden, 1, message);
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "×");
  assert.deepEqual(await fake.messenger.messageDisplayAction.getBadgeBackgroundColor({ tabId: 1 }), [0xc5, 0x22, 0x1f, 255]);
  assert.match(await fake.messenger.messageDisplayAction.getTitle({ tabId: 1 }), /not installed/);
  assert.equal(fake.network.requests.length, 0);
  assert.equal(warden.popupModel(1).state, "host_missing");
});

test("host crash during classify: that message fails closed; after reconnecting the next one works", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const a = newsletter(1);
  const b = newsletter(2);
  const { fake, warden } = await startWarden({ host, messages: [a, b] });
  routeAll(fake);
  host.silent.add("classify");
  fake.display(1, a.header, a.refs);
  await settle();
  host.crash();
  await settle();
  const failed = warden.sessions.get(1);
  assert.equal(failed.outcome, "host_failing");
  assert.equal(warden.host.state, "failing");
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "×");
  assert.equal(fake.network.requests.length, 0);
  host.silent.delete("classify");
  await fake.clock.advance(1000); // first back-off step
  assert.equal(warden.host.state, "ready");
  assert.equal(host.starts, 2);
  await show(fake, warden, 1, b);
  assert.equal(warden.sessions.get(1).outcome, "settled");
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "0");
  assert.deepEqual(fake.network.requests.map((r) => r.url), [LOGO]);
});

test("a display wakes a dead host at once instead of waiting for the back-off", async () => {
  const host = new FakeHost({ installed: false, decide: decideBy() });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  await fake.clock.advance(1000 + 2000 + 4000 + 1500); // three failed retries; the next one is 8 s away
  assert.equal(warden.host.state, "missing");
  const starts = host.starts;
  host.installed = true; // the user ran `pixelwarden install`
  await show(fake, warden, 1, a);
  assert.equal(host.starts, starts + 1);
  assert.equal(warden.sessions.get(1).outcome, "settled");
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "0");
});

test("an unanswered classify times out: host failing, port restarted, nothing loads", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  host.silent.add("classify");
  fake.display(1, a.header, a.refs);
  await settle();
  await fake.clock.advance(10000);
  assert.equal(warden.sessions.get(1).outcome, "host_failing");
  assert.equal(warden.host.state, "failing");
  assert.equal(fake.network.requests.length, 0);
  await fake.clock.advance(1000);
  assert.equal(warden.host.state, "ready");
});

test("a host speaking another protocol version is treated as outdated: nothing loads", async () => {
  const host = new FakeHost({ protocol: 2, decide: decideBy() });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  assert.equal(warden.host.state, "outdated");
  await show(fake, warden, 1, a);
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "×");
  assert.equal(host.of("classify").length, 0);
  assert.equal(fake.network.requests.length, 0);
});

test("late DNS update: pending first-party content loads only once the update allows it", async () => {
  const host = new FakeHost({ decide: decideBy() });
  host.pendingHosts = ["img.shop.example"];
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  const { session } = await show(fake, warden, 1, a);
  const [update] = host.of("update");
  assert.equal(update.request, host.of("classify")[0].id);
  assert.deepEqual(fake.network.requests.map((r) => r.url), [LOGO]);
  assert.deepEqual(session.verdict.decision(LOGO).reasons, ["first_party"]);
});

test("late DNS update that never comes: content stays blocked and the host is not blamed", async () => {
  const host = new FakeHost({ decide: decideBy() });
  host.pendingHosts = ["img.shop.example"];
  host.silent.add("update");
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  fake.display(1, a.header, a.refs);
  await settle();
  await fake.clock.advance(15000);
  await warden.sessions.get(1).whenIdle();
  assert.equal(fake.network.requests.length, 0);
  assert.equal(warden.host.state, "ready");
  assert.equal(warden.popupModel(1).pending_dns, true);
});

test("a tracker is never fetched, even if a faulty host labels it allowed", async () => {
  const host = new FakeHost({ decide: (url) => ({ action: "allow", tracker: url === PIXEL, reasons: ["first_party"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  await show(fake, warden, 1, a);
  assert.ok(!fake.network.requests.some((r) => r.url === PIXEL));
  assert.deepEqual(fake.network.requests.map((r) => r.url).sort(), [BANNER, LOGO].sort());
});

test("load the rest of this message: allow scope message, third party loads, trackers do not; undo revokes", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  const { port } = await show(fake, warden, 1, a);
  assert.equal(warden.popupModel(1).other_blocked.count, 1);
  const model = await fake.messenger.runtime.sendMessage({ type: "popup.loadRest", tabId: 1 });
  const [allow] = host.of("allow");
  assert.deepEqual([allow.scope, allow.value], ["message", "m1@shop.example"]);
  assert.deepEqual(fake.network.requests.map((r) => r.url), [LOGO, BANNER]);
  assert.equal(model.choices.message.active, true);
  assert.equal(model.trackers.count, 1);
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "1");
  const undone = await fake.messenger.runtime.sendMessage({ type: "popup.choose", tabId: 1, action: "revoke", scope: "message", value: "m1@shop.example" });
  assert.equal(host.of("revoke").length, 1);
  assert.equal(undone.choices.message.active, false);
  assert.equal(fake.network.requests.length, 2, "an undo fetches nothing");
  await settle();
  assert.deepEqual(port.received.filter((m) => m.type === "revert"), [{ type: "revert", urls: [BANNER] }], "and takes back what it had allowed");
  assert.deepEqual([...warden.sessions.get(1).injected], [LOGO]);
});

test("always load this sender, then undo from the options page", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  await show(fake, warden, 1, a);
  const model = await fake.messenger.runtime.sendMessage({ type: "popup.choose", tabId: 1, action: "allow", scope: "sender", value: "news@shop.example" });
  assert.equal(model.choices.sender.active, true);
  assert.ok(fake.network.requests.some((r) => r.url === BANNER));
  assert.ok(!fake.network.requests.some((r) => r.url === PIXEL));
  const options = await fake.messenger.runtime.sendMessage({ type: "options.revoke", scope: "sender", value: "news@shop.example" });
  assert.deepEqual(options.overrides, []);
  assert.equal(warden.popupModel(1).choices.sender.active, false);
});

test("invalid choices are refused before reaching the host", async () => {
  const { fake, host } = await startWarden().then(({ fake }) => ({ fake, host: fake.host }));
  await assert.rejects(fake.messenger.runtime.sendMessage({ type: "popup.choose", tabId: 1, action: "allow", scope: "everything", value: "x" }));
  await assert.rejects(fake.messenger.runtime.sendMessage({ type: "popup.choose", tabId: 1, action: "block", scope: "sender", value: "a@b.c" }));
  assert.equal(host.of("allow").length + host.of("block").length, 0);
});

test("messages from other senders than this add-on are ignored", async () => {
  const { fake } = await startWarden();
  const results = fake.messenger.runtime.onMessage.dispatch({ type: "options.get" }, { id: "someone-else@example" });
  assert.deepEqual(results, [undefined]);
});

test("options: settings go to the host; an invalid value is reported, nothing changes", async () => {
  const { fake } = await startWarden();
  const model = await fake.messenger.runtime.sendMessage({ type: "options.get" });
  assert.equal(model.host.state, "ready");
  assert.equal(model.host.host_version, "9.9.9");
  assert.equal(model.lists[0].name, "easyprivacy");
  const changed = await fake.messenger.runtime.sendMessage({ type: "options.setSettings", settings: { mode: "relaxed", uncloak: false, resolver: null } });
  assert.equal(changed.settings.mode, "relaxed");
  await assert.rejects(fake.messenger.runtime.sendMessage({ type: "options.setSettings", settings: { mode: "loose" } }), /mode/);
  assert.equal(fake.host.settings.mode, "relaxed");
});

test("stylesheets: fetched, their url()s decided by the host, allowed ones inlined, the rest neutralised", async () => {
  const SHEET = "http://img.shop.example/main.css";
  const BG = "http://img.shop.example/bg.png";
  const FONT = "http://img.shop.example/f.woff2";
  const SPY = "https://pixel.tracker.example/s.gif";
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = makeMessage(1, { refs: [ref(SHEET, "stylesheet", "link", "href")] });
  const { fake, warden } = await startWarden({ host, messages: [a] });
  fake.network.route(SHEET, { type: "text/css; charset=utf-8", body: `.a{background:url(bg.png)} .b{background:url(${SPY})} @font-face{font-family:F;src:url("f.woff2")} /* </style><img src=x> */` });
  fake.network.route(BG, { type: "image/png", body: PNG });
  fake.network.route(FONT, { type: "font/woff2", body: "wOF2xxxx" });
  fake.network.route(SPY, { type: "image/gif", body: "GIF89a" });
  const { port } = await show(fake, warden, 1, a);
  const second = host.of("classify")[1];
  assert.deepEqual(second.rendered.map((r) => [r.url, r.kind, r.origin, r.via]), [
    [BG, "image", "stylesheet", SHEET],
    [SPY, "image", "stylesheet", SHEET],
    [FONT, "font", "stylesheet", SHEET],
  ]);
  // The host reads the sheet itself: appended to the HTML as a <style>, URLs absolute, "<" escaped.
  assert.ok(second.message.html.startsWith(a.parts[0].content));
  const appended = second.message.html.slice(a.parts[0].content.length);
  assert.match(appended, /^\n<style>\.a\{background:url\("http:\/\/img\.shop\.example\/bg\.png"\)\}/);
  assert.ok(appended.includes('src:url("http://img.shop.example/f.woff2")'));
  assert.equal((appended.match(/</g) ?? []).length, 2, "only the <style> tags themselves");
  assert.ok(appended.includes("\\3c /style>\\3c img src=x>"));
  assert.deepEqual(fake.network.requests.map((r) => r.url).sort(), [BG, FONT, SHEET].sort());
  const [sheet] = port.received.filter((m) => m.type === "stylesheet");
  assert.equal(sheet.url, SHEET);
  assert.match(sheet.cssText, /\.a\{background:url\("data:image\/png;base64,/);
  assert.match(sheet.cssText, /\.b\{background:url\("data:,"\)\}/);
  assert.match(sheet.cssText, /src:url\("data:font\/woff2;base64,/);
  assert.ok(!sheet.cssText.includes("tracker.example"));
  assert.deepEqual(sheet.inlined, [BG, FONT]);
  assert.deepEqual([...warden.sessions.get(1).injected].sort(), [BG, FONT, SHEET].sort());
  assert.equal(await fake.messenger.messageDisplayAction.getBadgeText({ tabId: 1 }), "1", "the sheet's tracker counts");
});

test("Thunderbird's own remote-content exception: trackers that loaded anyway are flagged", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  const { port } = await show(fake, warden, 1, a);
  port.postMessage({ type: "thunderbird-loaded", urls: [PIXEL, BANNER] });
  await settle();
  const model = warden.popupModel(1);
  assert.deepEqual(model.thunderbird_loaded, [
    { url: PIXEL, tracker: true },
    { url: BANNER, tracker: false },
  ]);
});

test("closing the tab forgets its session", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  await show(fake, warden, 3, a);
  fake.messenger.tabs.onRemoved.dispatch(3, {});
  assert.equal(warden.sessions.get(3), undefined);
});

test("an image put back that does not decode is recorded as a render failure", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  const { port, session } = await show(fake, warden, 1, a, { ack: false });
  port.postMessage({ type: "injected", url: LOGO, rendered: false });
  await settle();
  assert.deepEqual([...session.injected], [LOGO]);
  assert.deepEqual([...session.renderFailed], [LOGO]);
});

test("a host that refuses the hand-shake is failing, and is retried", async () => {
  const host = new FakeHost({ decide: decideBy() });
  const original = host.handlers.hello;
  host.handlers.hello = () => ({ error: { code: "internal_error", message: "boom" } });
  const { fake, warden } = await startWarden({ host });
  assert.equal(warden.host.state, "failing");
  assert.match(warden.host.error, /boom/);
  host.handlers.hello = original;
  await fake.clock.advance(1000);
  assert.equal(warden.host.state, "ready");
});

test("image alternatives (srcset, picture): only the best allowed candidate is fetched, the next if it fails", async () => {
  const A1 = "http://img.shop.example/a-1x.png";
  const A2 = "http://img.shop.example/a-2x.png";
  const CDN = "https://cdn.other.example/a-best.png";
  const alt = (url, rank) => ({ ...ref(url, "image", "img", "srcset"), group: 1, rank });
  const host = new FakeHost({ decide: decideBy() });
  const a = makeMessage(1, { refs: [alt(CDN, 0), alt(A1, 1), alt(A2, 2)] });
  const { fake, warden } = await startWarden({ host, messages: [a] });
  fake.network.route(A1, { status: 404 });
  fake.network.route(A2, { type: "image/png", body: PNG });
  fake.network.route(CDN, { type: "image/png", body: PNG });
  const { port } = await show(fake, warden, 1, a);
  assert.deepEqual(fake.network.requests.map((r) => r.url), [A1, A2], "the blocked best one is skipped, the failing one replaced");
  assert.deepEqual(port.received.filter((m) => m.type === "inject").map((m) => m.url), [A2]);
  await fake.messenger.runtime.sendMessage({ type: "popup.loadRest", tabId: 1 });
  assert.deepEqual(fake.network.requests.map((r) => r.url), [A1, A2], "one candidate is enough");
});

test("after a host restart, a choice still works: the forgotten request is classified again", async () => {
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const a = newsletter(1);
  const { fake, warden } = await startWarden({ host, messages: [a] });
  routeAll(fake);
  await show(fake, warden, 1, a);
  host.crash();
  host.classified.clear(); // a new host process remembers no request
  await settle();
  await fake.clock.advance(1000);
  assert.equal(warden.host.state, "ready");
  const model = await fake.messenger.runtime.sendMessage({ type: "popup.loadRest", tabId: 1 });
  assert.equal(host.of("classify").length, 2);
  assert.deepEqual(fake.network.requests.map((r) => r.url), [LOGO, BANNER]);
  assert.equal(model.other_blocked.count, 0);
  assert.equal(model.trackers.count, 1);
});
