/* End-to-end test driver (contract: extension/TEST-DRIVER.md).
 *
 * Inert unless managed storage holds {"e2e": {"enabled": true}}, which only the test harness's
 * throw-away HOME provides. It opens each message of Local Folders/Inbox in turn, exactly as a user
 * would, and prints what the add-on did as "PIXELWARDEN-E2E {json}" lines on stdout.
 */

export const PREFIX = "PIXELWARDEN-E2E ";

/** JSON with every non-ASCII character escaped, so stdout carries it unchanged. */
export function asciiJson(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
}

export async function readDriverConfig(storage) {
  try {
    const { e2e } = await storage.managed.get("e2e");
    return e2e && e2e.enabled === true ? e2e : null;
  } catch {
    return null; // no managed-storage manifest: the normal case
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function retry(what, attempts, delayMs) {
  for (let i = 0; i < attempts; i++) {
    const value = await what().catch(() => null);
    if (value) return value;
    await sleep(delayMs);
  }
  return null;
}

export class TestDriver {
  constructor(messenger, warden, config, log = (line) => console.log(line)) {
    this.m = messenger;
    this.warden = warden;
    this.log = log;
    this.markerBase = String(config.marker_base ?? "http://marker.pixelwarden.test").replace(/\/+$/, "");
    this.loadRest = config.load_rest ?? false;
    this.settleMs = Number(config.settle_ms ?? 20000);
    this.quietMs = Number(config.quiet_ms ?? 700);
    this.startDelayMs = Number(config.start_delay_ms ?? 0);
    this.popup = config.popup ?? false; // true, message numbers, or Message-IDs
  }

  say(event) {
    this.log(PREFIX + asciiJson(event));
  }

  async marker(path) {
    try {
      await this.warden.guard.fetchMarker(`${this.markerBase}/${path}`);
    } catch (e) {
      this.say({ event: "error", where: `marker ${path}`, message: String(e?.message ?? e) });
    }
  }

  async inbox() {
    const accounts = await this.m.accounts.list();
    const local = accounts.find((a) => a.type === "none");
    if (!local) throw new Error("no Local Folders account");
    return retry(async () => {
      const folders = await this.m.folders.getSubFolders(local.rootFolder ?? local);
      return folders.find((f) => f.path === "/Inbox") ?? null;
    }, 60, 250);
  }

  async listAll(folderId) {
    const out = [];
    let page = await this.m.messages.list(folderId);
    out.push(...page.messages);
    while (page.id) {
      page = await this.m.messages.continueList(page.id);
      out.push(...page.messages);
    }
    return out;
  }

  wantsPopup(n, message) {
    if (this.popup === true) return true;
    const id = String(message.headerMessageId ?? "").replace(/^<|>$/g, "");
    return Array.isArray(this.popup) && this.popup.some((p) => p === n || p === id);
  }

  wantsLoadRest(message) {
    if (this.loadRest === true) return true;
    return Array.isArray(this.loadRest) && this.loadRest.includes(String(message.headerMessageId ?? "").replace(/^<|>$/g, ""));
  }

  /** Waits for the session of `messageId` in `tabId` to be idle, or the settle time. */
  async settle(tabId, messageId, work = null) {
    const deadline = Date.now() + this.settleMs;
    let session = null;
    while (Date.now() < deadline) {
      session = this.warden.sessions.get(tabId);
      if (session && session.message.id === messageId && session.outcome !== "running") break;
      await sleep(100);
    }
    if (!session || session.message.id !== messageId) return { session: null, outcome: "not_displayed" };
    if (work) await Promise.race([work(), sleep(Math.max(0, deadline - Date.now()))]).catch(() => {});
    const idle = await Promise.race([session.whenIdle().then(() => true), sleep(Math.max(0, deadline - Date.now())).then(() => false)]);
    session.post({ type: "report-loaded" });
    await sleep(this.quietMs);
    const outcome = !idle ? "timeout" : session.outcome === "host_failing" ? "host_failing" : "settled";
    return { session, outcome };
  }

  async report(n, phase, tabId, message, settled) {
    const a = this.m.messageDisplayAction;
    const [text, title, color] = await Promise.all([
      a.getBadgeText({ tabId }),
      a.getTitle({ tabId }),
      a.getBadgeBackgroundColor({ tabId }),
    ]);
    const s = settled.session;
    this.say({
      event: "message",
      n,
      phase,
      message: { id: message.id, message_id: message.headerMessageId ?? null, subject: message.subject ?? "", author: message.author ?? "" },
      outcome: settled.outcome,
      badge: { text, title, color },
      host: this.warden.host.snapshot(),
      verdict: s ? s.verdict.toJSON() : null,
      popup: this.warden.popupModel(tabId),
      fetches: s ? s.fetches : [],
      injected: s ? [...s.injected] : [],
      render_failed: s ? [...s.renderFailed] : [],
      thunderbird_loaded: s ? [...s.thunderbirdLoaded] : [],
    });
  }

  async run() {
    const info = await this.m.runtime.getBrowserInfo();
    this.warden.observe((event, data) => {
      if (event === "host") this.say({ event: "host", host: data });
    });
    await this.warden.host.ready;
    this.say({ event: "ready", addon_version: this.warden.version, thunderbird: info.version, host: this.warden.host.snapshot() });
    if (this.startDelayMs > 0) await sleep(this.startDelayMs);
    const inbox = await this.inbox();
    if (!inbox) throw new Error("no Inbox in Local Folders");
    const [tab] = await this.m.mailTabs.query({});
    if (!tab) throw new Error("no mail tab");
    // Showing the folder makes Thunderbird index a fresh mbox. Headless Thunderbird 153 sometimes
    // rejects this with "An unexpected error occurred" yet indexes the folder anyway: retry a little,
    // then go on and let the listing below decide.
    const shown = await retry(() => this.m.mailTabs.update(tab.id, { displayedFolder: inbox.id }).then(() => true), 8, 250);
    if (!shown) this.say({ event: "note", message: "mailTabs.update kept failing; listing anyway" });
    const messages = (await retry(async () => {
      const all = await this.listAll(inbox.id);
      return all.length ? all : null;
    }, 60, 250)) ?? [];
    this.say({ event: "folder", messages: messages.length });
    for (const [index, message] of messages.entries()) {
      const n = index + 1;
      await this.marker(`begin/${n}`);
      await this.m.mailTabs.setSelectedMessages(tab.id, [message.id]);
      const settled = await this.settle(tab.id, message.id);
      await this.report(n, "display", tab.id, message, settled);
      if (this.wantsPopup(n, message)) {
        // The harness holds this marker's answer while it takes its screenshot of the open popup.
        const opened = await this.m.messageDisplayAction.openPopup().catch(() => false);
        await sleep(Math.max(this.quietMs, 500)); // let the popup render
        this.say({ event: "popup", n, opened });
        await this.marker(`popup/${n}`);
      }
      await this.marker(`end/${n}`);
      if (this.wantsLoadRest(message) && settled.session) {
        await this.marker(`begin/${n}/load_rest`);
        const press = () =>
          this.warden.loadRest(tab.id).catch((e) => this.say({ event: "error", where: `load_rest ${n}`, message: String(e?.message ?? e) }));
        const after = await this.settle(tab.id, message.id, press);
        await this.report(n, "load_rest", tab.id, message, after);
        await this.marker(`end/${n}/load_rest`);
        const undo = this.warden.popupModel(tab.id).choices?.message;
        if (undo) await this.warden.choose(tab.id, "revoke", "message", undo.value).catch(() => {});
      }
    }
    this.say({ event: "done", messages: messages.length });
  }

  start() {
    return this.run().catch((e) => this.say({ event: "error", where: "driver", message: String(e?.message ?? e) }));
  }
}
