// The end-to-end driver's contract (extension/TEST-DRIVER.md), against the fake Thunderbird.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestDriver, readDriverConfig, asciiJson, PREFIX } from "../../extension/background/test-driver.js";
import { FakeHost, makeMessage, ref, PNG } from "./fake-messenger.mjs";
import { startWarden, decideBy } from "./helpers.mjs";

test("inert without managed storage, or without enabled: true", async () => {
  const storage = (managed) => ({ managed: { get: async () => (managed === null ? Promise.reject(new Error("Managed storage manifest not found")) : managed) } });
  assert.equal(await readDriverConfig(storage(null)), null);
  assert.equal(await readDriverConfig(storage({})), null);
  assert.equal(await readDriverConfig(storage({ e2e: { enabled: "yes" } })), null);
  assert.deepEqual(await readDriverConfig(storage({ e2e: { enabled: true } })), { enabled: true });
});

test("report lines are ASCII-only JSON that round-trips", () => {
  const value = { subject: "Café ☕ <b>\"x\"</b>\n", emoji: "😀" };
  const line = asciiJson(value);
  assert.match(line, /^[\x20-\x7e]*$/);
  assert.deepEqual(JSON.parse(line), value);
});

test("opens each Inbox message in turn between markers and reports badge, verdict and popup", async () => {
  const LOGO = "http://img.shop.example/logo.png";
  const PIXEL = "https://pixel.tracker.example/o.gif";
  const BANNER = "https://cdn.other.example/b.png";
  const messages = [
    makeMessage(1, { refs: [ref(LOGO), ref(PIXEL), ref(BANNER)] }),
    makeMessage(2, { refs: [] }),
  ];
  const host = new FakeHost({ decide: decideBy({ trackers: ["pixel.tracker.example"] }) });
  const { fake, warden } = await startWarden({ host, messages });
  for (const url of [LOGO, PIXEL, BANNER]) fake.network.route(url, { type: "image/png", body: PNG });
  // The display script acknowledges what it puts back.
  const display = fake.display.bind(fake);
  fake.display = (...args) => {
    const port = display(...args);
    if (port) fake.autoAck(port);
    return port;
  };
  const lines = [];
  const driver = new TestDriver(fake.messenger, warden, { enabled: true, load_rest: ["m1@shop.example"], popup: [2], settle_ms: 15000, quiet_ms: 300 }, (l) => lines.push(l));
  await driver.run();
  const events = lines.map((l) => {
    assert.ok(l.startsWith(PREFIX));
    return JSON.parse(l.slice(PREFIX.length));
  });
  assert.deepEqual(events.map((e) => e.event + (e.phase ? `:${e.n}:${e.phase}` : "")), ["ready", "folder", "message:1:display", "message:1:load_rest", "message:2:display", "popup", "done"]);
  const [first, rest, second] = events.filter((e) => e.event === "message");
  assert.equal(first.outcome, "settled");
  assert.equal(first.badge.text, "1");
  assert.equal(first.verdict.trackers_blocked, 1);
  assert.equal(first.popup.trackers.companies[0].company, "Acme Tracking");
  assert.deepEqual(first.injected, [LOGO]);
  assert.deepEqual(rest.injected.sort(), [BANNER, LOGO].sort());
  assert.equal(rest.badge.text, "1");
  assert.equal(second.badge.text, "0");
  const requested = fake.network.requests.map((r) => r.url);
  assert.deepEqual(requested, [
    "http://marker.pixelwarden.test/begin/1",
    LOGO,
    "http://marker.pixelwarden.test/end/1",
    "http://marker.pixelwarden.test/begin/1/load_rest",
    BANNER,
    "http://marker.pixelwarden.test/end/1/load_rest",
    "http://marker.pixelwarden.test/begin/2",
    "http://marker.pixelwarden.test/popup/2",
    "http://marker.pixelwarden.test/end/2",
  ]);
  assert.ok(!requested.includes(PIXEL));
  assert.equal(host.of("revoke").length, 1, "load_rest is undone after its report");
});
