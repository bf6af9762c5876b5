// The native port on its own: ids, out-of-order replies, errors, time-outs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostPort, HostError } from "../../extension/background/host-port.js";
import { FakeEvent, FakeClock, settle } from "./fake-messenger.mjs";

/** A runtime whose native port the test answers by hand. */
function manualRuntime() {
  const ports = [];
  return {
    ports,
    connectNative(name) {
      const port = { name, sent: [], onMessage: new FakeEvent(), onDisconnect: new FakeEvent(), postMessage: (m) => port.sent.push(m), disconnect() { port.closed = true; } };
      ports.push(port);
      return port;
    },
  };
}

async function readyPort() {
  const runtime = manualRuntime();
  const clock = new FakeClock();
  const host = new HostPort(runtime, { addonVersion: "0.1.0", timers: clock });
  const ready = host.connect();
  const [port] = runtime.ports;
  assert.equal(port.name, "pixelwarden");
  assert.deepEqual(port.sent[0], { id: 1, type: "hello", addon_version: "0.1.0" });
  port.onMessage.dispatch({ id: 1, ok: true, protocol: 1, host_version: "0.1.0" });
  assert.equal(await ready, "ready");
  return { host, port, clock, runtime };
}

test("replies are matched by id, whatever their order", async () => {
  const { host, port } = await readyPort();
  const a = host.request("stats");
  const b = host.request("settings.get");
  const [ra, rb] = port.sent.slice(1);
  assert.deepEqual(Object.keys(ra)[0], "id", "id is written first (the host salvages it from oversized frames)");
  port.onMessage.dispatch({ id: rb.id, ok: true, protocol: 1, which: "b" });
  port.onMessage.dispatch({ id: ra.id, ok: true, protocol: 1, which: "a" });
  assert.equal((await a).which, "a");
  assert.equal((await b).which, "b");
});

test("an error reply rejects that request with the host's code; the port stays up", async () => {
  const { host, port } = await readyPort();
  const pending = host.request("classify", { message: {} });
  port.onMessage.dispatch({ id: port.sent.at(-1).id, ok: false, protocol: 1, error: { code: "invalid_field", message: "message.key" } });
  await assert.rejects(pending, (e) => e instanceof HostError && e.code === "invalid_field");
  assert.equal(host.state, "ready");
});

test("a late reply to a timed-out request is ignored", async () => {
  const { host, port, clock } = await readyPort();
  const pending = host.request("update", { request: 1 }, { timeoutMs: 500, failHostOnTimeout: false });
  const id = port.sent.at(-1).id;
  const rejected = assert.rejects(pending, (e) => e.code === "timeout");
  await clock.advance(500);
  await rejected;
  port.onMessage.dispatch({ id, ok: true, protocol: 1 });
  assert.equal(host.state, "ready");
});

test("requests while the host is down fail at once and send nothing", async () => {
  const { host, port } = await readyPort();
  port.onDisconnect.dispatch({ error: { message: "the host exited" } });
  assert.equal(host.state, "failing");
  const before = port.sent.length;
  await assert.rejects(host.request("stats"), (e) => e.code === "host_unavailable");
  assert.equal(port.sent.length, before);
});

test("back-off grows after repeated failures, and resets after a success", async () => {
  const runtime = manualRuntime();
  const clock = new FakeClock();
  const host = new HostPort(runtime, { addonVersion: "0.1.0", timers: clock });
  host.connect();
  const fail = () => runtime.ports.at(-1).onDisconnect.dispatch({ error: { message: "No such native application pixelwarden" } });
  fail();
  assert.equal(host.state, "missing");
  const times = [];
  for (let i = 0; i < 4; i++) {
    const count = runtime.ports.length;
    const start = clock.now();
    while (runtime.ports.length === count) await clock.advance(100);
    times.push(clock.now() - start);
    fail();
  }
  assert.deepEqual(times, [1000, 2000, 4000, 8000]);
  await clock.advance(16000);
  const port = runtime.ports.at(-1);
  port.onMessage.dispatch({ id: port.sent[0].id, ok: true, protocol: 1 });
  await settle();
  assert.equal(host.state, "ready");
  assert.equal(host.failures, 0);
});
