/* The background's coordinator: Thunderbird events in, host requests out, badge and popup data.
 * Each listener handles its own channel; the popup and the options page only ask, never decide. */

import { HostPort, HostState } from "./host-port.js";
import { FetchGuard } from "./fetch-guard.js";
import { DisplaySession } from "./display-session.js";
import { Badge, badgeFor } from "./badge.js";
import { buildPopupModel } from "./popup-model.js";

export const DISPLAY_PORT = "pixelwarden-display";
export const DISPLAY_SCRIPT_ID = "pixelwarden-display";
// Relative paths would resolve against the background page's folder: absolute from the add-on root.
export const DISPLAY_SCRIPT_FILES = ["/shared/css-urls.js", "/display/display.js"];
const CHOICE_SCOPES = new Set(["message", "sender", "domain"]);

function displayedList(result) {
  // MV2 returns an array of MessageHeaders, MV3 a MessageList.
  return Array.isArray(result) ? result : (result?.messages ?? []);
}

export class Warden {
  /**
   * @param {object} messenger  the WebExtension API (or the test stand-in)
   * @param {object} deps       fetch, css (pixelwardenCss), timers, hostOptions
   */
  constructor(messenger, { fetch, css, timers = globalThis, hostOptions = {} }) {
    this.messenger = messenger;
    this.css = css;
    this.version = messenger.runtime.getManifest().version;
    this.host = new HostPort(messenger.runtime, { addonVersion: this.version, timers, ...hostOptions });
    this.guard = new FetchGuard({
      fetch,
      webRequest: messenger.webRequest,
      extensionOrigin: messenger.runtime.getURL(""),
      timers,
    });
    this.badge = new Badge(messenger.messageDisplayAction, messenger.i18n);
    this.sessions = new Map(); // tabId -> DisplaySession
    this.overrides = [];
    this.settings = null;
    this.listeners = new Set(); // (event, data) observers, for the test driver
  }

  observe(listener) {
    this.listeners.add(listener);
  }

  emit(event, data) {
    for (const listener of this.listeners) listener(event, data);
  }

  async start() {
    const m = this.messenger;
    m.messageDisplay.onMessagesDisplayed.addListener((tab, displayed) => this.onDisplayed(tab, displayed));
    m.runtime.onConnect.addListener((port) => this.onConnect(port));
    m.runtime.onMessage.addListener((request, sender) => this.onRequest(request, sender));
    m.tabs.onRemoved.addListener((tabId) => this.closeSession(tabId));
    this.host.onStateChange((snapshot) => this.onHostState(snapshot));
    const registered = await m.scripting.messageDisplay.getRegisteredScripts({ ids: [DISPLAY_SCRIPT_ID] });
    if (registered.length === 0) {
      await m.scripting.messageDisplay.registerScripts([{ id: DISPLAY_SCRIPT_ID, js: DISPLAY_SCRIPT_FILES, runAt: "document_idle" }]);
    }
    await this.host.connect();
  }

  async onHostState(snapshot) {
    this.emit("host", snapshot);
    if (snapshot.state === HostState.READY) {
      try {
        const reply = await this.host.request("settings.get");
        this.settings = reply.settings ?? null;
        this.overrides = Array.isArray(reply.overrides) ? reply.overrides : [];
      } catch {
        // The options page will show the host's state; choices stay as last known.
      }
    }
    for (const session of this.sessions.values()) this.refreshBadge(session.tabId);
  }

  onDisplayed(tab, displayed) {
    const list = displayedList(displayed);
    const current = this.sessions.get(tab.id);
    if (list.length !== 1 || (current && current.message.id !== list[0].id)) {
      this.closeSession(tab.id);
    }
    if (list.length === 1) {
      // The display script will connect; meanwhile wake a host that is down (no waiting for back-off).
      this.host.ensureConnected();
    }
    this.refreshBadge(tab.id);
  }

  onConnect(port) {
    if (port.name !== DISPLAY_PORT || !port.sender?.tab) return;
    const tabId = port.sender.tab.id;
    const queue = [];
    let session = null;
    port.onMessage.addListener((message) => (session ? this.fromDisplay(session, message) : queue.push(message)));
    port.onDisconnect.addListener(() => {
      if (session && this.sessions.get(tabId) === session) this.closeSession(tabId);
      else session?.close();
    });
    this.messenger.messageDisplay.getDisplayedMessages(tabId).then(
      (result) => {
        const list = displayedList(result);
        if (list.length !== 1) return; // several messages selected: nothing is rendered as one message
        this.closeSession(tabId);
        session = new DisplaySession({
          tabId,
          message: list[0],
          port,
          host: this.host,
          guard: this.guard,
          messages: this.messenger.messages,
          css: this.css,
          onChange: (s) => this.sessionChanged(s),
        });
        this.sessions.set(tabId, session);
        this.emit("session", session);
        this.refreshBadge(tabId);
        for (const message of queue) this.fromDisplay(session, message);
      },
      () => {},
    );
  }

  fromDisplay(session, message) {
    if (message?.type === "references" && Array.isArray(message.refs) && !session.started) {
      session.started = true;
      session.run(message.refs);
    } else {
      session.receive(message);
    }
  }

  sessionChanged(session) {
    if (this.sessions.get(session.tabId) === session) this.refreshBadge(session.tabId);
    this.emit("change", session);
  }

  closeSession(tabId) {
    const session = this.sessions.get(tabId);
    if (session) {
      session.close();
      this.sessions.delete(tabId);
    }
  }

  refreshBadge(tabId) {
    const state = badgeFor(this.sessions.get(tabId) ?? null, this.host.snapshot());
    return this.badge.show(tabId, state).catch(() => {});
  }

  popupModel(tabId) {
    return buildPopupModel(this.sessions.get(tabId) ?? null, this.host.snapshot(), this.overrides);
  }

  /** allow / revoke a scope, then re-decide the displayed message. Trackers stay blocked (host rule). */
  async choose(tabId, action, scope, value) {
    if (!["allow", "revoke", "block"].includes(action) || (action === "block" && scope !== "domain") || !CHOICE_SCOPES.has(scope) || typeof value !== "string" || !value) {
      throw new Error("invalid choice");
    }
    const reply = await this.host.request(action, { scope, value });
    if (Array.isArray(reply.overrides)) this.overrides = reply.overrides;
    const session = this.sessions.get(tabId);
    if (session) await session.refresh();
    return this.popupModel(tabId);
  }

  /** "Load the rest of this message": allow scope message for the displayed message. */
  loadRest(tabId) {
    const model = this.popupModel(tabId);
    const choice = model.choices?.message;
    if (!choice) return Promise.reject(new Error("no message to allow"));
    return this.choose(tabId, "allow", "message", choice.value);
  }

  async optionsModel() {
    let settings = this.settings;
    if (this.host.state === HostState.READY) {
      try {
        const reply = await this.host.request("settings.get");
        settings = this.settings = reply.settings ?? null;
        if (Array.isArray(reply.overrides)) this.overrides = reply.overrides;
      } catch {
        // shown as host state below
      }
    }
    const hello = this.host.info ?? {};
    return {
      addon_version: this.version,
      host: this.host.snapshot(),
      lists: Array.isArray(hello.lists) ? hello.lists : [],
      warnings: Array.isArray(hello.warnings) ? hello.warnings.map(String) : [],
      uncloaking_available: hello.uncloaking_available !== false,
      settings,
      overrides: this.overrides,
    };
  }

  async setSettings(settings) {
    const reply = await this.host.request("settings.set", { settings });
    this.settings = reply.settings ?? this.settings;
    return this.optionsModel();
  }

  async revokeOverride(scope, value) {
    const reply = await this.host.request("revoke", { scope, value });
    if (Array.isArray(reply.overrides)) this.overrides = reply.overrides;
    return this.optionsModel();
  }

  /** runtime.onMessage: handles only its own request types, returning a Promise for those. */
  onRequest(request, sender) {
    if (!request || typeof request !== "object" || sender?.id !== this.messenger.runtime.id) return undefined;
    switch (request.type) {
      case "popup.get":
        return Promise.resolve(this.popupModel(request.tabId));
      case "popup.choose":
        return this.choose(request.tabId, request.action, request.scope, request.value);
      case "popup.loadRest":
        return this.loadRest(request.tabId);
      case "options.get":
        return this.optionsModel();
      case "options.setSettings":
        return this.setSettings(request.settings);
      case "options.revoke":
        return this.revokeOverride(request.scope, request.value);
      case "options.reconnect":
        return this.host.connect().then(() => this.optionsModel());
      default:
        return undefined;
    }
  }
}
