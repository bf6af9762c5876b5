/* The one persistent native-messaging port to the Pixel Warden host (docs/protocol.md).
 *
 * Fail closed: while the port is not in the "ready" state every request fails at once, and the
 * callers load nothing. A request unanswered in time marks the host as failing and restarts it.
 */

export const HOST_NAME = "pixelwarden";
export const PROTOCOL_VERSIONS = [1];

export const HostState = Object.freeze({
  CONNECTING: "connecting",
  READY: "ready",
  MISSING: "missing", // Thunderbird found no host manifest: `pixelwarden install` was not run
  FAILING: "failing", // crashed, timed out, refused the hand-shake or spoke garbage
  OUTDATED: "outdated", // speaks a protocol version this add-on does not
});

export class HostError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const BACKOFF_MS = [1000, 2000, 4000, 8000, 16000, 30000];

export class HostPort {
  /**
   * @param {object} runtime  messenger.runtime (connectNative)
   * @param {object} options  addonVersion, requestTimeoutMs, helloTimeoutMs, timers {setTimeout, clearTimeout, now}
   */
  constructor(runtime, { addonVersion, requestTimeoutMs = 10000, helloTimeoutMs = 10000, timers = globalThis } = {}) {
    this.runtime = runtime;
    this.addonVersion = addonVersion;
    this.requestTimeoutMs = requestTimeoutMs;
    this.helloTimeoutMs = helloTimeoutMs;
    this.timers = timers;
    this.port = null;
    this.state = HostState.CONNECTING;
    this.info = null; // the hello reply
    this.error = null; // last error text, for the options page
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer, type}
    this.listeners = new Set();
    this.failures = 0;
    this.retryTimer = null;
    this.lastAttempt = -Infinity;
    this.ready = null; // promise of the current connection attempt
  }

  onStateChange(listener) {
    this.listeners.add(listener);
  }

  snapshot() {
    return {
      state: this.state,
      host_version: this.info?.host_version ?? null,
      protocol: this.info?.protocol ?? null,
      error: this.error,
    };
  }

  setState(state, error = null) {
    const changed = state !== this.state || error !== this.error;
    this.state = state;
    this.error = error;
    if (changed) {
      for (const listener of this.listeners) {
        listener(this.snapshot());
      }
    }
  }

  /** Opens the port and shakes hands; resolves with the state reached (never rejects). */
  connect() {
    if (this.retryTimer !== null) {
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.lastAttempt = this.timers.now ? this.timers.now() : Date.now();
    this.setState(HostState.CONNECTING, this.error);
    const port = this.runtime.connectNative(HOST_NAME);
    this.port = port;
    port.onMessage.addListener((reply) => this.receive(port, reply));
    port.onDisconnect.addListener((p) => this.disconnected(port, p?.error?.message ?? null));
    this.ready = this.request("hello", { addon_version: this.addonVersion }, { timeoutMs: this.helloTimeoutMs, handshake: true })
      .then((hello) => {
        if (!PROTOCOL_VERSIONS.includes(hello.protocol)) {
          this.info = hello;
          this.setState(HostState.OUTDATED, `protocol ${hello.protocol}`);
          return this.state;
        }
        this.info = hello;
        this.failures = 0;
        this.setState(HostState.READY, null);
        return this.state;
      })
      .catch((e) => {
        // A host that refuses the hand-shake is failing; one that vanished was already dropped.
        if (port === this.port) this.drop(port, HostState.FAILING, `hello: ${e?.message ?? e}`);
        return this.state;
      });
    return this.ready;
  }

  /**
   * Called when a message is displayed: if the host is down and the last attempt is over a second
   * old, try again now instead of waiting for the back-off (the user is looking at a message).
   */
  ensureConnected() {
    if (this.state === HostState.READY || this.state === HostState.OUTDATED) {
      return Promise.resolve(this.state);
    }
    if (this.state === HostState.CONNECTING && this.ready) {
      return this.ready;
    }
    const now = this.timers.now ? this.timers.now() : Date.now();
    if (now - this.lastAttempt >= 1000) {
      return this.connect();
    }
    return Promise.resolve(this.state);
  }

  request(type, fields = {}, { timeoutMs = this.requestTimeoutMs, handshake = false, failHostOnTimeout = true } = {}) {
    if (!this.port || (!handshake && this.state !== HostState.READY)) {
      return Promise.reject(new HostError("host_unavailable", `host is ${this.state}`));
    }
    const id = this.nextId++;
    const port = this.port;
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(id);
        reject(new HostError("timeout", `${type} unanswered after ${timeoutMs} ms`));
        if (failHostOnTimeout && port === this.port) {
          // A host that does not answer is as good as dead: restart it, load nothing meanwhile.
          this.drop(port, HostState.FAILING, `${type} timed out`);
        }
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, type });
      try {
        // `id` first: the host salvages it from the first bytes of an oversized frame.
        port.postMessage({ id, type, ...fields });
      } catch (e) {
        this.timers.clearTimeout(timer);
        this.pending.delete(id);
        reject(new HostError("host_unavailable", String(e)));
      }
    });
  }

  receive(port, reply) {
    if (port !== this.port || reply === null || typeof reply !== "object") {
      return;
    }
    const entry = this.pending.get(reply.id);
    if (!entry) {
      return; // a late answer to a request that timed out: already failed closed
    }
    this.pending.delete(reply.id);
    this.timers.clearTimeout(entry.timer);
    if (reply.ok === true) {
      entry.resolve(reply);
    } else {
      const err = reply.error ?? {};
      entry.reject(new HostError(String(err.code ?? "host_error"), String(err.message ?? "")));
    }
  }

  disconnected(port, message) {
    if (port !== this.port) {
      return;
    }
    const missing = typeof message === "string" && /No such native application/i.test(message);
    this.drop(port, missing ? HostState.MISSING : HostState.FAILING, message ?? "the host exited");
  }

  drop(port, state, error) {
    if (port === this.port) {
      this.port = null;
      try {
        port.disconnect();
      } catch {
        // already closed
      }
    }
    for (const [id, entry] of this.pending) {
      this.timers.clearTimeout(entry.timer);
      entry.reject(new HostError("host_unavailable", error));
      this.pending.delete(id);
    }
    this.setState(state, error);
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.retryTimer !== null) {
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures++;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (this.state !== HostState.READY && this.state !== HostState.CONNECTING) {
        this.connect();
      }
    }, delay);
  }
}
