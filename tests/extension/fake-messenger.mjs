// An in-memory stand-in for the parts of Thunderbird's `messenger` API the add-on uses.
// It behaves like Thunderbird 153 where ../shared/docs/thunderbird-notes.md and our own checks in
// a real Thunderbird say so:
// - MV2 `onMessagesDisplayed(tab, messages[])` and `getDisplayedMessages(tabId) -> messages[]`;
// - display scripts registered with paths resolved against the *calling page* (background/), so a
//   relative path breaks exactly as it did in Thunderbird;
// - a missing native host disconnects the port with "No such native application <name>";
// - webRequest fires for the add-on's own fetches (tabId -1, originUrl = the background page),
//   once per redirect hop with the same requestId, and a blocking listener may return a Promise;
// - per-tab badge text/colour/title, colours read back as [r, g, b, a];
// - storage.managed.get rejects when no managed-storage manifest exists.

import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const EXTENSION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../extension");
export const ORIGIN = "moz-extension://0f1e2d3c-test/";
const BACKGROUND_PAGE = ORIGIN + "background/background.html";

export class FakeEvent {
  constructor() {
    this.listeners = [];
  }
  addListener(fn) {
    this.listeners.push(fn);
  }
  removeListener(fn) {
    this.listeners = this.listeners.filter((l) => l !== fn);
  }
  hasListener(fn) {
    return this.listeners.includes(fn);
  }
  dispatch(...args) {
    return this.listeners.map((fn) => fn(...args));
  }
}

/** A manual clock for HostPort/FetchGuard timers: nothing waits in real time. */
export class FakeClock {
  constructor() {
    this.time = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  setTimeout = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { fn, at: this.time + ms });
    return id;
  };
  clearTimeout = (id) => {
    this.timers.delete(id);
  };
  now = () => this.time;
  /** Advances the clock, firing due timers in order. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at);
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.timers.delete(id);
      this.time = timer.at;
      timer.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

/** Lets every pending promise callback run. */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

function makePortPair(name, sender) {
  // Two linked ends; messages are delivered asynchronously, as in Thunderbird.
  const a = { name, sender, onMessage: new FakeEvent(), onDisconnect: new FakeEvent(), connected: true, received: [] };
  const b = { name, sender, onMessage: new FakeEvent(), onDisconnect: new FakeEvent(), connected: true, received: [] };
  const link = (from, to) => {
    from.postMessage = (message) => {
      if (!from.connected) throw new Error("Attempt to postMessage on disconnected port");
      const copy = structuredClone(message);
      from.sent = from.sent ?? [];
      from.sent.push(copy);
      setImmediate(() => to.connected && (to.received.push(copy), to.onMessage.dispatch(copy, to)));
    };
    from.disconnect = () => {
      if (!from.connected) return;
      from.connected = false;
      to.connected = false;
      setImmediate(() => to.onDisconnect.dispatch(to));
    };
  };
  link(a, b);
  link(b, a);
  return [a, b];
}

/**
 * The native host as the add-on sees it. By default it answers like docs/protocol.md with the
 * decisions of `decide(url, request, overrides)`; tests replace `handlers` entries to script
 * failures (no answer, errors, crashes).
 */
export class FakeHost {
  constructor({ installed = true, protocol = 1, decide = () => ({ action: "block", tracker: false, reasons: ["third_party"] }) } = {}) {
    this.installed = installed;
    this.protocol = protocol;
    this.decide = decide;
    this.requests = [];
    this.overrides = [];
    this.settings = { mode: "strict", uncloak: true, resolver: null, identities: [], dns_budget_ms: 250 };
    this.port = null;
    this.starts = 0;
    this.silent = new Set(); // request types left unanswered
    this.pendingFor = new Map(); // classify id -> hosts pending (first answer), then resolved by update
    this.pendingHosts = []; // hosts to report as pending in the next classify
    this.classified = new Map(); // classify id -> request
    this.handlers = {
      hello: () => ({ host_version: "9.9.9", lists: [{ name: "easyprivacy", updated: "2026-11-28T10:00:00Z", age_days: 1 }], settings: this.settings, uncloaking_available: true, warnings: [] }),
      classify: (r) => {
        this.classified.set(r.id, r);
        const pending = this.pendingHosts;
        this.pendingHosts = [];
        this.pendingFor.set(r.id, pending);
        return { verdict: this.verdict(r, pending), pending };
      },
      update: (r) => {
        const original = this.classified.get(r.request);
        if (!original) return { error: { code: "unknown_request", message: "" } };
        return { request: r.request, verdict: this.verdict(original, []), pending: [] };
      },
      allow: (r) => this.choose("allow", r),
      block: (r) => this.choose("block", r),
      revoke: (r) => {
        const before = this.overrides.length;
        this.overrides = this.overrides.filter((o) => !(o.scope === r.scope && o.value === r.value));
        return { revoked: before !== this.overrides.length, overrides: this.overrides };
      },
      "settings.get": () => ({ settings: this.settings, overrides: this.overrides }),
      "settings.set": (r) => {
        if (r.settings.mode && !["strict", "relaxed"].includes(r.settings.mode)) return { error: { code: "invalid_settings", message: "mode" } };
        Object.assign(this.settings, r.settings);
        return { settings: this.settings };
      },
    };
  }

  choose(action, r) {
    this.overrides = this.overrides.filter((o) => !(o.scope === r.scope && o.value === r.value));
    const override = { scope: r.scope, value: r.value, action, created: "2026-11-29T08:00:00Z" };
    this.overrides.push(override);
    return { override, overrides: this.overrides };
  }

  verdict(request, pending) {
    const urls = [...new Set([...(request.message.urls ?? []), ...request.rendered.map((r) => r.url)])];
    const resources = urls.map((url) => {
      const host = new URL(url).hostname;
      const d = pending.includes(host)
        ? { action: "block", tracker: false, reasons: ["dns_pending"] }
        : this.decide(url, request, this.overrides);
      return { url, kind: d.kind ?? "image", action: d.action, tracker: d.tracker ?? false, party: d.party ?? "third", company: d.company ?? null, leaks: d.leaks ?? [], reasons: d.reasons ?? [] };
    });
    return {
      source: `thunderbird:${request.message.key}`,
      message_id: request.message.message_id,
      from: (request.message.headers.from ?? [""])[0],
      sender_domain: "shop.example",
      mode: this.settings.mode,
      image_only: false,
      resources,
      trackers_blocked: resources.filter((r) => r.tracker && r.action === "block").length,
      blocked: resources.filter((r) => r.action === "block").length,
      allowed: resources.filter((r) => r.action === "allow").length,
    };
  }

  /** Called by runtime.connectNative. */
  connect(addonPort, hostPort) {
    this.starts++;
    if (!this.installed) {
      setImmediate(() => {
        addonPort.error = { message: "No such native application pixelwarden" };
        hostPort.disconnect();
      });
      return;
    }
    this.port = hostPort;
    hostPort.onMessage.addListener((request) => {
      this.requests.push(request);
      if (this.silent.has(request.type)) return;
      const handler = this.handlers[request.type];
      const out = handler ? handler(request) : { error: { code: "unknown_type", message: request.type } };
      const reply = out.error
        ? { id: request.id, ok: false, protocol: this.protocol, type: request.type, error: out.error }
        : { id: request.id, ok: true, protocol: this.protocol, type: request.type, ...out };
      if (hostPort.connected) hostPort.postMessage(reply);
    });
  }

  /** The host process dies. */
  crash() {
    const port = this.port;
    this.port = null;
    if (port) port.disconnect();
  }

  of(type) {
    return this.requests.filter((r) => r.type === type);
  }
}

/**
 * The network behind the add-on's fetch: `routes` maps URL -> {status, type, body, redirect, headers}.
 * Every request passes through the webRequest listeners first, like Thunderbird's.
 */
export class FakeNetwork {
  constructor(webRequest) {
    this.webRequest = webRequest;
    this.routes = new Map();
    this.requests = []; // {url, init} of requests that actually left
    this.cancelled = []; // urls the webRequest gate stopped
    this.nextRequestId = 1;
  }

  route(url, response) {
    this.routes.set(url, response);
  }

  async gate(url, requestId) {
    for (const listener of this.webRequest.onBeforeRequest.listeners) {
      const verdict = await listener({ url, requestId, tabId: -1, originUrl: BACKGROUND_PAGE, documentUrl: BACKGROUND_PAGE, type: "xmlhttprequest", method: "GET" });
      if (verdict && verdict.cancel) {
        this.cancelled.push(url);
        return false;
      }
    }
    return true;
  }

  fetch = async (url, init = {}) => {
    const requestId = String(this.nextRequestId++);
    let current = url;
    for (let hop = 0; hop < 10; hop++) {
      if (!(await this.gate(current, requestId))) throw new TypeError("NetworkError when attempting to fetch resource.");
      this.requests.push({ url: current, init });
      const route = this.routes.get(current) ?? { status: 404, type: "text/plain", body: "" };
      if (route.hang) {
        await new Promise((resolve, reject) => init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
      }
      if (route.redirect) {
        current = new URL(route.redirect, current).href;
        continue;
      }
      const body = typeof route.body === "string" ? new TextEncoder().encode(route.body) : (route.body ?? new Uint8Array());
      const headers = new Headers(route.headers ?? {});
      if (route.type !== undefined) headers.set("content-type", route.type);
      if (route.length !== false && !headers.has("content-length")) headers.set("content-length", String(body.length));
      const response = new Response(route.status === 204 ? null : body, { status: route.status ?? 200, headers });
      Object.defineProperty(response, "url", { value: current });
      return response;
    }
    throw new TypeError("too many redirects");
  };
}

function loadMessages(locale) {
  return JSON.parse(readFileSync(path.join(EXTENSION_DIR, "_locales", locale, "messages.json"), "utf8"));
}

/** WebExtension getMessage semantics: $NAME$ placeholders whose content is $1..$9. */
export function makeGetMessage(locale = "en") {
  const messages = loadMessages(locale);
  return (key, substitutions = []) => {
    const entry = messages[key];
    if (!entry) return "";
    const subs = Array.isArray(substitutions) ? substitutions : [substitutions];
    const resolve = (text) => text.replace(/\$(\d)/g, (_, n) => String(subs[Number(n) - 1] ?? ""));
    return entry.message.replace(/\$([A-Za-z0-9_@]+)\$/g, (_, name) => {
      const placeholder = entry.placeholders?.[name.toLowerCase()];
      return placeholder ? resolve(placeholder.content) : "";
    });
  };
}

function toRgba(color) {
  if (Array.isArray(color)) return color;
  const hex = color.replace("#", "");
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)).concat(255);
}

/**
 * @returns {{messenger, host, network, clock, display(tabId, message, refs), ...}}
 */
export function createFakeThunderbird({ host = new FakeHost(), managed = null, version = "0.1.0", messages = [] } = {}) {
  const clock = new FakeClock();
  const store = new Map(messages.map((m) => [m.header.id, m]));
  const displayed = new Map(); // tabId -> headers[]
  const badges = new Map(); // tabId -> {text, color, title}
  const registered = [];
  const webRequest = { onBeforeRequest: new FakeEvent() };
  const network = new FakeNetwork(webRequest);
  const runtime = {
    id: "pixelwarden@pixelwarden.org",
    onConnect: new FakeEvent(),
    onMessage: new FakeEvent(),
    getManifest: () => ({ ...JSON.parse(readFileSync(path.join(EXTENSION_DIR, "manifest.json"), "utf8")), version }),
    getURL: (p) => ORIGIN + p.replace(/^\//, ""),
    getBrowserInfo: async () => ({ name: "Thunderbird", vendor: "Mozilla", version: "153.8.0", buildID: "0" }),
    connectNative: (name) => {
      if (!/^\w+(\.\w+)*$/.test(name)) throw new Error(`Type error for parameter application (${name})`);
      const [addonEnd, hostEnd] = makePortPair(name, null);
      host.connect(addonEnd, hostEnd);
      return addonEnd;
    },
    /** What a popup or options page does: the background's onMessage listeners answer. */
    sendMessage: async (message) => {
      const results = runtime.onMessage.dispatch(message, { id: runtime.id, url: ORIGIN + "popup/popup.html" });
      const answer = results.find((r) => r !== undefined);
      return answer;
    },
  };
  const messenger = {
    runtime,
    i18n: { getMessage: makeGetMessage("en"), getUILanguage: () => "en" },
    messageDisplay: {
      onMessagesDisplayed: new FakeEvent(),
      getDisplayedMessages: async (tabId) => displayed.get(tabId) ?? [],
    },
    scripting: {
      messageDisplay: {
        registerScripts: async (scripts) => {
          for (const s of scripts) {
            if (registered.some((r) => r.id === s.id)) throw new Error(`A script with id "${s.id}" is already registered`);
            // Resolved against the calling page, as Thunderbird does.
            const js = s.js.map((file) => new URL(file, BACKGROUND_PAGE).href.slice(ORIGIN.length));
            registered.push({ ...s, js });
          }
        },
        getRegisteredScripts: async (filter = {}) => registered.filter((r) => !filter.ids || filter.ids.includes(r.id)),
      },
    },
    messages: {
      listInlineTextParts: async (id) => store.get(id)?.parts ?? [],
      getFull: async (id) => ({ headers: store.get(id)?.headers ?? {} }),
      list: async () => ({ id: null, messages: [...store.values()].map((m) => m.header) }),
      continueList: async () => ({ id: null, messages: [] }),
    },
    messageDisplayAction: {
      setBadgeText: async ({ tabId, text }) => void badges.set(tabId, { ...badges.get(tabId), text }),
      setBadgeBackgroundColor: async ({ tabId, color }) => void badges.set(tabId, { ...badges.get(tabId), color: toRgba(color) }),
      setTitle: async ({ tabId, title }) => void badges.set(tabId, { ...badges.get(tabId), title }),
      getBadgeText: async ({ tabId }) => badges.get(tabId)?.text ?? "",
      getBadgeBackgroundColor: async ({ tabId }) => badges.get(tabId)?.color ?? [0, 0, 0, 0],
      getTitle: async ({ tabId }) => badges.get(tabId)?.title ?? "",
      openPopup: async () => true,
    },
    tabs: { onRemoved: new FakeEvent(), query: async () => [{ id: 1, type: "mail" }] },
    mailTabs: {
      query: async () => [{ id: 1, type: "mail" }],
      update: async () => ({}),
      setSelectedMessages: async (tabId, ids) => {
        const m = store.get(ids[0]);
        fake.display(tabId, m.header, m.refs ?? []);
      },
    },
    accounts: { list: async () => [{ id: "account1", type: "none", rootFolder: { id: "account1://", path: "/" } }] },
    folders: { getSubFolders: async () => [{ id: "account1://Inbox", path: "/Inbox" }] },
    storage: {
      managed: {
        get: async (key) => {
          if (managed === null) throw new Error("Managed storage manifest not found");
          return key in managed ? { [key]: managed[key] } : {};
        },
      },
    },
    webRequest,
  };
  const displayPorts = new Map(); // tabId -> display-script end of the current port
  const fake = {
    messenger,
    host,
    network,
    clock,
    badges,
    registered,
    displayPorts,
    /** Thunderbird shows `header` in tab `tabId`; its display script then reports `refs`. */
    display(tabId, header, refs = [], { scriptRuns = true } = {}) {
      displayPorts.get(tabId)?.disconnect(); // the old document goes away
      displayed.set(tabId, header ? [header] : []);
      messenger.messageDisplay.onMessagesDisplayed.dispatch({ id: tabId, type: "mail" }, header ? [header] : []);
      if (!header || !scriptRuns) return null;
      for (const r of registered) {
        for (const file of r.js) {
          if (!existsSync(path.join(EXTENSION_DIR, file))) throw new Error(`display script ${file} does not exist`);
        }
      }
      if (registered.length === 0) return null;
      const [scriptEnd, backgroundEnd] = makePortPair("pixelwarden-display", { id: runtime.id, tab: { id: tabId, type: "mail" }, frameId: 0 });
      displayPorts.set(tabId, scriptEnd);
      runtime.onConnect.dispatch(backgroundEnd);
      scriptEnd.postMessage({ type: "references", refs });
      return scriptEnd;
    },
    /** Several messages selected: no single message document. */
    displayMany(tabId, headers) {
      displayPorts.get(tabId)?.disconnect();
      displayed.set(tabId, headers);
      messenger.messageDisplay.onMessagesDisplayed.dispatch({ id: tabId, type: "mail" }, headers);
    },
    /** The display script acknowledges every injection it received, like display.js does. */
    autoAck(scriptEnd) {
      scriptEnd.onMessage.addListener((m) => {
        if (m.type === "inject" || m.type === "stylesheet") scriptEnd.postMessage({ type: "injected", url: m.url });
        for (const url of m.inlined ?? []) scriptEnd.postMessage({ type: "injected", url });
      });
    },
  };
  return fake;
}

/** A message for the store: header, headers, parts and the refs its display script reports. */
export function makeMessage(id, { html = "<p>hi</p>", refs = [], from = "Shop <news@shop.example>", messageId = `m${id}@shop.example` } = {}) {
  return {
    header: { id, headerMessageId: messageId, subject: `Message ${id}`, author: from },
    headers: { from: [from], to: ["me@example.org"], "message-id": [`<${messageId}>`] },
    parts: [{ contentType: "text/html", content: html }],
    refs,
  };
}

export function ref(url, kind = "image", element = "img", attribute = "src") {
  return { url, element, attribute, width: 10, height: 10, hidden: false, quoted: false, kind };
}

export const PNG = Uint8Array.from(Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64"));
