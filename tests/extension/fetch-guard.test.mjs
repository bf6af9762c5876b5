// The only door to the network: content types, sizes, credentials, redirects, the webRequest gate.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FetchGuard, FetchRefused, acceptedType, LIMITS } from "../../extension/background/fetch-guard.js";
import { FakeEvent, FakeNetwork, FakeClock, ORIGIN, PNG, settle } from "./fake-messenger.mjs";

function setup() {
  const webRequest = { onBeforeRequest: new FakeEvent() };
  const network = new FakeNetwork(webRequest);
  const clock = new FakeClock();
  const guard = new FetchGuard({ fetch: network.fetch, webRequest, extensionOrigin: ORIGIN, timers: clock });
  return { webRequest, network, guard, clock };
}

const IMG = "http://img.shop.example/a.png";

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof FetchRefused, `expected FetchRefused, got ${e}`);
    return e.reason;
  }
  assert.fail("the fetch was not refused");
}

test("fetches without cookies, referrer or cache, and returns the bytes with their type", async () => {
  const { network, guard } = setup();
  network.route(IMG, { type: "image/png", body: PNG });
  const got = await guard.fetch(IMG, "image");
  assert.equal(got.type, "image/png");
  assert.deepEqual([...got.bytes], [...PNG]);
  const [{ init }] = network.requests;
  assert.equal(init.credentials, "omit");
  assert.equal(init.referrerPolicy, "no-referrer");
  assert.equal(init.cache, "no-store");
  assert.equal(init.method, "GET");
});

test("content types: each kind has its allow-list", async () => {
  const { network, guard } = setup();
  const cases = [
    ["image", "text/html", "<script>", "content_type"],
    ["image", "application/javascript", "x", "content_type"],
    ["stylesheet", "text/plain", "a{}", "content_type"],
    ["font", "image/png", PNG, "content_type"],
    ["image", "application/octet-stream", "not an image", "content_type"],
  ];
  for (const [i, [kind, type, body, reason]] of cases.entries()) {
    const url = `http://img.shop.example/${i}`;
    network.route(url, { type, body });
    assert.equal(await refusal(guard.fetch(url, kind)), reason, `${kind} served as ${type}`);
  }
  network.route("http://img.shop.example/ok.css", { type: "text/css; charset=utf-8", body: "a{}" });
  assert.equal((await guard.fetch("http://img.shop.example/ok.css", "stylesheet")).type, "text/css");
});

test("octet-stream is accepted only when the bytes are what the kind expects", () => {
  assert.equal(acceptedType("image", "application/octet-stream", PNG), "image/png");
  assert.equal(acceptedType("font", "binary/octet-stream", new TextEncoder().encode("wOF2....")), "font/woff2");
  assert.throws(() => acceptedType("font", "application/octet-stream", PNG), FetchRefused);
  assert.throws(() => acceptedType("image", 'image/png"><script>', PNG), FetchRefused);
});

test("other kinds (media, frames, objects) are never fetched", async () => {
  const { network, guard } = setup();
  for (const kind of ["media", "frame", "object", "other"]) {
    assert.equal(await refusal(guard.fetch(IMG, kind)), "kind");
  }
  assert.equal(network.requests.length, 0);
});

test("size cap: a declared length over the cap is refused before reading", async () => {
  const { network, guard } = setup();
  network.route(IMG, { type: "image/png", body: PNG, headers: { "content-length": String(LIMITS.image + 1) } });
  assert.equal(await refusal(guard.fetch(IMG, "image")), "too_large");
});

test("size cap: an undeclared body is cut off once it passes the cap", async () => {
  const { network, guard } = setup();
  network.route(IMG, { type: "text/css", body: new Uint8Array(LIMITS.stylesheet + 10), length: false });
  assert.equal(await refusal(guard.fetch(IMG, "stylesheet")), "too_large");
});

test("non-http schemes and credentials in the URL are refused without a request", async () => {
  const { network, guard } = setup();
  assert.equal(await refusal(guard.fetch("file:///etc/passwd", "image")), "scheme");
  assert.equal(await refusal(guard.fetch("data:image/png;base64,AAAA", "image")), "scheme");
  assert.equal(await refusal(guard.fetch("http://user:pw@img.shop.example/a.png", "image")), "credentials_in_url");
  assert.equal(await refusal(guard.fetch("not a url", "image")), "bad_url");
  assert.equal(network.requests.length, 0);
});

test("a redirect the caller does not approve is stopped before the target is requested", async () => {
  const { network, guard } = setup();
  const TRACKER = "https://pixel.tracker.example/p.gif";
  network.route(IMG, { redirect: TRACKER });
  network.route(TRACKER, { type: "image/gif", body: "GIF89a" });
  const asked = [];
  const reason = await refusal(guard.fetch(IMG, "image", { approveRedirect: async (url) => (asked.push(url), false) }));
  assert.equal(reason, "redirect");
  assert.deepEqual(asked, [TRACKER]);
  assert.deepEqual(network.requests.map((r) => r.url), [IMG]);
  assert.deepEqual(network.cancelled, [TRACKER]);
});

test("an approved redirect is followed", async () => {
  const { network, guard } = setup();
  const CDN = "http://img2.shop.example/a.png";
  network.route(IMG, { redirect: CDN });
  network.route(CDN, { type: "image/png", body: PNG });
  const got = await guard.fetch(IMG, "image", { approveRedirect: async (url) => url === CDN });
  assert.equal(got.finalUrl, CDN);
  assert.deepEqual(network.requests.map((r) => r.url), [IMG, CDN]);
});

test("the webRequest gate cancels any request of the add-on that is not a permitted fetch", async () => {
  const { webRequest } = setup();
  const [listener] = webRequest.onBeforeRequest.listeners;
  const ours = { url: "https://anything.example/x", requestId: "9", tabId: -1, originUrl: ORIGIN + "background/background.html" };
  assert.deepEqual(await listener(ours), { cancel: true });
  const thunderbirds = { url: "https://anything.example/x", requestId: "10", tabId: -1, originUrl: "chrome://messenger/content/messenger.xhtml" };
  assert.deepEqual(await listener(thunderbirds), {});
});

test("status errors and network failures are refusals, never data", async () => {
  const { network, guard } = setup();
  network.route(IMG, { status: 500, type: "image/png", body: PNG });
  assert.equal(await refusal(guard.fetch(IMG, "image")), "status");
  assert.equal(await refusal(guard.fetch("http://nowhere.example/x.png", "image")), "status");
});

test("a server that never answers is abandoned at the time-out", async () => {
  const { network, guard, clock } = setup();
  network.route(IMG, { hang: true });
  const pending = refusal(guard.fetch(IMG, "image"));
  await settle();
  await clock.advance(15000);
  assert.equal(await pending, "timeout");
});

test("markers (test driver) still go through the gate", async () => {
  const { network, guard } = setup();
  network.route("http://marker.pixelwarden.test/begin/1", { type: "text/plain", body: "" });
  assert.equal(await guard.fetchMarker("http://marker.pixelwarden.test/begin/1"), 200);
  assert.equal(network.cancelled.length, 0);
  assert.equal(guard.permits.length, 0);
});
