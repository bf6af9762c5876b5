/* One displayed message in one tab: from the display script's report to the resources put back.
 *
 *   display script --references--> session --classify--> host
 *   host --verdict (+ late updates)--> session --guarded fetch--> allowed bytes
 *   session --inject / stylesheet (data: URLs)--> display script
 *
 * Fail closed at every step: no verdict, no fetch; a URL the host did not allow is never fetched;
 * a stylesheet is put back only with its own url()s decided by the host and inlined as data: URLs.
 */

import { MergedVerdict, normalizeUrl } from "./verdict.js";
import { toDataUrl, FetchRefused } from "./fetch-guard.js";

const FETCHABLE = new Set(["image", "font", "stylesheet"]);
const PARALLEL_FETCHES = 6;
const MAX_IMPORT_DEPTH = 2;
const UPDATE_TIMEOUT_MS = 15000;
const BLOCKED_CSS_URL = "data:,";

function pickPart(parts, type) {
  const part = parts.find((p) => String(p.contentType).toLowerCase() === type);
  return part ? String(part.content) : null;
}

export class DisplaySession {
  /**
   * @param {object} init tabId, message (messages.MessageHeader), port (display script), host (HostPort),
   *                      guard (FetchGuard), messages (messenger.messages), css (pixelwardenCss),
   *                      onChange (called whenever the badge or popup may need refreshing)
   */
  constructor({ tabId, message, port, host, guard, messages, css, onChange = () => {} }) {
    this.tabId = tabId;
    this.message = message;
    this.port = port;
    this.host = host;
    this.guard = guard;
    this.messages = messages;
    this.css = css;
    this.onChange = onChange;
    this.verdict = new MergedVerdict();
    this.outcome = "running"; // "running" | "settled" | "host_failing" | "closed"
    this.headers = null;
    this.body = null; // {html, text}
    this.refs = new Map(); // normalized url -> {kind, element, attribute}
    this.groups = new Map(); // image group (srcset/picture alternatives) -> [{url, rank}]
    this.ungrouped = new Set(); // urls referenced at least once outside a group
    this.requests = []; // classify request ids (for updates after a choice)
    this.renderedFor = new Map(); // classify request id -> the rendered list it carried
    this.attempted = new Set(); // urls whose fetch was started
    this.fetches = []; // {url, outcome, detail, type, bytes}
    this.sheets = new Map(); // stylesheet url -> {text, base, entries, depth, data: Map}
    this.dataUrls = new Map(); // fetched url -> data: URL (for stylesheets' sub-resources)
    this.injected = new Set();
    this.renderFailed = new Set(); // put back, but the image did not decode
    this.thunderbirdLoaded = new Set();
    this.busy = 0;
    this.idleWaiters = [];
  }

  get closed() {
    return this.outcome === "closed";
  }

  close() {
    this.outcome = "closed";
    this.wakeIdle();
  }

  post(message) {
    if (this.closed) return false;
    try {
      this.port.postMessage(message);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  /** Runs `work` counted as in-flight, so whenIdle() waits for it. */
  async track(work) {
    this.busy++;
    try {
      return await work();
    } finally {
      this.busy--;
      this.wakeIdle();
    }
  }

  wakeIdle() {
    if (this.busy === 0 || this.closed) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((resolve) => resolve(this.outcome));
    }
  }

  /** Resolves when nothing is in flight (classify, updates, fetches). */
  whenIdle() {
    if (this.busy === 0 || this.closed) return Promise.resolve(this.outcome);
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The display script's report: [{url, element, attribute, width, height, hidden, quoted, kind}]. */
  addReferences(rendered) {
    const fresh = [];
    for (const ref of rendered) {
      const url = normalizeUrl(ref.url);
      if (url === null) continue;
      if (!this.refs.has(url)) {
        this.refs.set(url, { kind: String(ref.kind ?? "image"), element: String(ref.element ?? "img"), attribute: String(ref.attribute ?? "src") });
      }
      if (Number.isInteger(ref.group) && Number.isInteger(ref.rank)) {
        if (!this.groups.has(ref.group)) this.groups.set(ref.group, []);
        this.groups.get(ref.group).push({ url, rank: ref.rank });
      } else {
        this.ungrouped.add(url);
      }
      fresh.push({
        url,
        element: String(ref.element ?? "img"),
        attribute: String(ref.attribute ?? "src"),
        width: Number.isFinite(ref.width) ? Math.round(ref.width) : null,
        height: Number.isFinite(ref.height) ? Math.round(ref.height) : null,
        hidden: ref.hidden === true,
        quoted: ref.quoted === true,
        kind: String(ref.kind ?? "image"),
      });
    }
    return fresh;
  }

  async loadMessage() {
    const id = this.message.id;
    const [parts, full] = await Promise.all([this.messages.listInlineTextParts(id), this.messages.getFull(id)]);
    this.body = { html: pickPart(parts, "text/html"), text: pickPart(parts, "text/plain") };
    this.headers = full?.headers ?? {};
  }

  /**
   * The message as the host reads it. `sheetCss`: a fetched stylesheet's text (URLs made absolute)
   * appended as a <style> block, so that the host reads its url()s itself and decides them like the
   * message's own CSS; without it the host rightly blocks URLs it cannot see in the message
   * ("undecided"). `<` is escaped (CSS \3c) so the text cannot end the <style> block.
   */
  messagePayload(sheetCss = null) {
    const html = sheetCss === null ? this.body.html : `${this.body.html ?? ""}\n<style>${sheetCss.replace(/</g, "\\3c ")}</style>`;
    return {
      key: this.message.id,
      message_id: this.message.headerMessageId ? `<${String(this.message.headerMessageId).replace(/^<|>$/g, "")}>` : null,
      headers: this.headers,
      html,
      text: this.body.text,
    };
  }

  /** Asks the host; records the verdict; follows up pending DNS with an update. */
  async classify(rendered, sheetCss = null) {
    const reply = await this.host.request("classify", { message: this.messagePayload(sheetCss), rendered });
    if (this.closed) return reply;
    this.requests.push(reply.id);
    this.renderedFor.set(reply.id, { rendered, sheetCss });
    this.verdict.set(reply.id, { ...reply.verdict, truncated: reply.truncated === true });
    this.onChange(this);
    if (Array.isArray(reply.pending) && reply.pending.length > 0) {
      await this.update(reply.id);
    }
    return reply;
  }

  async update(requestId) {
    try {
      const reply = await this.host.request("update", { request: requestId }, { timeoutMs: UPDATE_TIMEOUT_MS, failHostOnTimeout: false });
      if (this.closed) return;
      this.verdict.set(requestId, { ...reply.verdict, truncated: reply.truncated === true });
      this.onChange(this);
    } catch (e) {
      // No late answer: what was pending stays blocked (dns_pending). Fail closed.
      if (e?.code === "unknown_request" && !this.closed) await this.reclassify(requestId);
    }
  }

  /** The host forgot the request (it restarted, or remembers only the last 128): ask again. */
  async reclassify(requestId) {
    const asked = this.renderedFor.get(requestId);
    if (!asked) return;
    try {
      await this.classify(asked.rendered, asked.sheetCss);
    } catch {
      return; // the old answer stays: nothing more loads
    }
    // Only now forget the old answer, so that nothing is allowed in between by its absence.
    this.requests = this.requests.filter((id) => id !== requestId);
    this.renderedFor.delete(requestId);
    this.verdict.delete(requestId);
    this.onChange(this);
  }

  /** The whole first pass. Never throws: failures end in a fail-closed outcome. */
  run(rendered) {
    return this.track(async () => {
      try {
        const fresh = this.addReferences(rendered);
        await this.loadMessage();
        const state = await this.host.ensureConnected();
        if (state !== "ready") throw new Error(`host ${state}`);
        await this.classify(fresh);
      } catch {
        if (!this.closed) {
          this.outcome = "host_failing";
          this.onChange(this);
        }
        return;
      }
      await this.fetchAllowed();
      if (!this.closed) {
        this.outcome = "settled";
        this.onChange(this);
      }
    });
  }

  /** After a user choice: ask for new decisions for every request of this display, load what is now allowed. */
  refresh() {
    return this.track(async () => {
      if (this.closed || this.verdict.main === null) return;
      await Promise.all(this.requests.map((id) => this.update(id)));
      this.takeBackRevoked();
      await this.fetchAllowed();
      for (const sheet of this.sheets.values()) {
        await this.finishSheet(sheet);
      }
      this.onChange(this);
    });
  }

  /** Undo: what was put back but is no longer allowed leaves the document (and may be fetched again later). */
  takeBackRevoked() {
    const revoked = [...this.attempted].filter((url) => !this.verdict.isAllowed(url));
    if (revoked.length === 0) return;
    for (const url of revoked) {
      this.attempted.delete(url);
      this.dataUrls.delete(url);
      this.injected.delete(url);
      this.renderFailed.delete(url);
      this.sheets.delete(url);
    }
    this.post({ type: "revert", urls: revoked });
  }

  /**
   * Fetches every rendered reference the host allowed and that was not fetched yet; of the
   * alternatives of one image (srcset, <picture>), only the best allowed one, as Thunderbird would.
   */
  async fetchAllowed() {
    const wanted = (url) => FETCHABLE.has(this.refs.get(url).kind) && !this.attempted.has(url) && this.verdict.isAllowed(url);
    const single = [...this.ungrouped].filter(wanted).map((url) => [url]);
    const alternatives = [...this.groups.values()]
      .filter((members) => !members.some((m) => this.dataUrls.has(m.url)))
      .map((members) => [...members].sort((a, b) => a.rank - b.rank).map((m) => m.url).filter(wanted))
      .filter((urls) => urls.length > 0);
    await this.pool([...single, ...alternatives], async (urls) => {
      for (const url of urls) {
        if (this.attempted.has(url)) {
          // Taken by another lane meanwhile (a URL can be both an alternative and used elsewhere).
          if (this.dataUrls.has(url)) return;
          continue;
        }
        const ref = this.refs.get(url);
        const done = ref.kind === "stylesheet" ? await this.loadSheet(url, 0) : await this.loadResource(url, ref.kind, ref.element);
        if (done || this.closed) return; // the first alternative that arrives is enough
      }
    });
  }

  async pool(items, worker) {
    let next = 0;
    const lanes = Array.from({ length: Math.min(PARALLEL_FETCHES, items.length) }, async () => {
      while (next < items.length && !this.closed) {
        await worker(items[next++]);
      }
    });
    await Promise.all(lanes);
  }

  /** A redirect hop may be followed only if the host allows the target too. */
  approveRedirect(from, element, kind) {
    return async (target) => {
      if (this.closed) return false;
      if (this.verdict.isAllowed(target)) return true;
      try {
        // `origin`/`via` tell the host where the add-on found this URL (protocol: unknown fields are ignored).
        await this.classify([{ url: target, element, attribute: "redirect", width: null, height: null, hidden: false, kind, origin: "redirect", via: from }]);
      } catch {
        return false;
      }
      return this.verdict.isAllowed(target);
    };
  }

  async guardedFetch(url, kind, element) {
    this.attempted.add(url);
    if (!this.verdict.isAllowed(url)) {
      this.fetches.push({ url, outcome: "refused", detail: "not_allowed", type: null, bytes: 0 });
      return null;
    }
    try {
      const got = await this.guard.fetch(url, kind, { approveRedirect: this.approveRedirect(url, element, kind) });
      this.fetches.push({ url, outcome: "ok", detail: got.finalUrl === got.url ? "" : `redirected:${got.finalUrl}`, type: got.type, bytes: got.bytes.length });
      return got;
    } catch (e) {
      const refused = e instanceof FetchRefused;
      this.fetches.push({ url, outcome: refused ? "refused" : "failed", detail: refused ? e.message : String(e), type: null, bytes: 0 });
      return null;
    }
  }

  async loadResource(url, kind, element) {
    const got = await this.guardedFetch(url, kind, element);
    if (!got || this.closed) return null;
    const dataUrl = toDataUrl(got.type, got.bytes);
    this.dataUrls.set(url, dataUrl);
    this.post({ type: "inject", url, dataUrl });
    return dataUrl;
  }

  /** A stylesheet: fetched, its url()s decided by the host, fetched in turn, inlined, put back. */
  async loadSheet(url, depth) {
    const got = await this.guardedFetch(url, "stylesheet", "link");
    if (!got || this.closed) return;
    const text = new TextDecoder("utf-8").decode(got.bytes);
    const base = got.finalUrl;
    const entries = this.css.findCssUrls(text).map((entry) => {
      let absolute = null;
      try {
        absolute = normalizeUrl(new URL(entry.url, base).href);
      } catch {
        absolute = null;
      }
      return { ...entry, absolute };
    });
    const sheet = { url, text, entries, depth, imports: new Map() };
    this.sheets.set(url, sheet);
    const rendered = entries
      .filter((e) => e.absolute !== null)
      .map((e) => ({ url: e.absolute, element: "link", attribute: e.context, width: null, height: null, hidden: false, kind: e.kind, origin: "stylesheet", via: url }));
    if (rendered.length > 0) {
      const absolute = this.css.rewriteCss(text, (e) => entries.find((x) => x.start === e.start)?.absolute ?? BLOCKED_CSS_URL, entries);
      try {
        await this.classify(rendered, absolute);
      } catch {
        // No decisions for its url()s: they all stay blocked, the sheet still goes back in.
      }
    }
    await this.finishSheet(sheet);
  }

  /** Fetches the sheet's allowed sub-resources not fetched yet, then (re)posts the rewritten sheet. */
  async finishSheet(sheet) {
    const todo = sheet.entries.filter((e) => e.absolute !== null && !this.attempted.has(e.absolute) && this.verdict.isAllowed(e.absolute));
    await this.pool(todo, async (e) => {
      if (e.kind === "stylesheet") {
        if (sheet.depth + 1 <= MAX_IMPORT_DEPTH) {
          const nested = await this.guardedFetch(e.absolute, "stylesheet", "link");
          if (nested) sheet.imports.set(e.absolute, new TextDecoder("utf-8").decode(nested.bytes));
        }
        return;
      }
      const got = await this.guardedFetch(e.absolute, e.kind, "link");
      if (got) this.dataUrls.set(e.absolute, toDataUrl(got.type, got.bytes));
    });
    if (this.closed) return;
    const inlined = sheet.entries.filter((e) => e.absolute && this.verdict.isAllowed(e.absolute) && this.dataUrls.has(e.absolute)).map((e) => e.absolute);
    this.post({ type: "stylesheet", url: sheet.url, cssText: this.inlineSheet(sheet), inlined: [...new Set(inlined)] });
  }

  /** The sheet's text with every url() either an inlined data: URL or neutralised. */
  inlineSheet(sheet) {
    let prefix = "";
    const body = this.css.rewriteCss(
      sheet.text,
      (entry) => {
        const found = sheet.entries.find((e) => e.start === entry.start);
        const url = found?.absolute;
        if (entry.kind === "stylesheet" && url && sheet.imports.has(url) && this.verdict.isAllowed(url)) {
          // An allowed @import is inlined in front (its own url()s are neutralised: one level of decisions).
          prefix += this.css.rewriteCss(sheet.imports.get(url), (inner) => {
            try {
              const abs = normalizeUrl(new URL(inner.url, url).href);
              return abs && this.verdict.isAllowed(abs) && this.dataUrls.has(abs) ? this.dataUrls.get(abs) : BLOCKED_CSS_URL;
            } catch {
              return BLOCKED_CSS_URL;
            }
          }) + "\n";
          return BLOCKED_CSS_URL;
        }
        if (url && this.verdict.isAllowed(url) && this.dataUrls.has(url)) return this.dataUrls.get(url);
        return BLOCKED_CSS_URL;
      },
      sheet.entries,
    );
    // Imported rules come first (lower precedence, as with @import); the neutralised @import rules of
    // the body then sit after other rules and are ignored, which is what they should be.
    return prefix + body;
  }

  /** Messages from the display script after the first report. */
  receive(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "injected" && typeof message.url === "string") {
      this.injected.add(message.url);
      if (message.rendered === false) this.renderFailed.add(message.url);
    } else if (message.type === "thunderbird-loaded" && Array.isArray(message.urls)) {
      for (const url of message.urls) {
        const normalized = normalizeUrl(url);
        if (normalized !== null) this.thunderbirdLoaded.add(normalized);
      }
      this.onChange(this);
    }
  }
}
