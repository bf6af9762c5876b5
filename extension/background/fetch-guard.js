/* The only door through which the add-on fetches anything.
 *
 * - A fetch happens only for a URL the caller has been told to allow, and only for images, fonts
 *   and stylesheets, each with its own content-type allow-list and size cap.
 * - No cookies, no referrer, no cache, a time-out.
 * - A blocking webRequest listener (it does fire for the add-on's own requests, unlike the message
 *   pane's) cancels every request of this add-on that is not a permitted fetch, and asks the caller
 *   about every redirect hop before it leaves: a first-party URL that redirects to a tracker is
 *   stopped at the redirect, not after.
 */

export const LIMITS = Object.freeze({
  image: 5 * 1024 * 1024,
  font: 5 * 1024 * 1024,
  stylesheet: 1024 * 1024,
});

export const FETCH_TIMEOUT_MS = 15000;

const FONT_TYPES = new Set([
  "font/woff",
  "font/woff2",
  "font/ttf",
  "font/otf",
  "font/sfnt",
  "font/collection",
  "application/font-woff",
  "application/font-woff2",
  "application/x-font-woff",
  "application/x-font-ttf",
  "application/x-font-truetype",
  "application/x-font-otf",
  "application/x-font-opentype",
  "application/font-sfnt",
  "application/vnd.ms-fontobject",
]);
const GENERIC_TYPES = new Set(["application/octet-stream", "binary/octet-stream", ""]);

export class FetchRefused extends Error {
  constructor(reason, detail = "") {
    super(`${reason}${detail ? ": " + detail : ""}`);
    this.reason = reason;
    this.detail = detail;
  }
}

/** What the bytes are, from their first bytes (used only when the server says "octet-stream"). */
export function sniffType(bytes) {
  const b = (i) => bytes[i];
  const ascii = (i, s) => [...s].every((ch, k) => bytes[i + k] === ch.charCodeAt(0));
  if (b(0) === 0x89 && ascii(1, "PNG")) return "image/png";
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return "image/jpeg";
  if (ascii(0, "GIF8")) return "image/gif";
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) return "image/webp";
  if (ascii(0, "wOFF")) return "font/woff";
  if (ascii(0, "wOF2")) return "font/woff2";
  if (ascii(0, "OTTO")) return "font/otf";
  if (b(0) === 0 && b(1) === 1 && b(2) === 0 && b(3) === 0) return "font/ttf";
  return null;
}

/** The media type the resource may be used as, or a FetchRefused. */
export function acceptedType(kind, contentType, bytes) {
  const type = String(contentType ?? "").split(";")[0].trim().toLowerCase();
  if (!/^[a-z0-9.+-]*\/?[a-z0-9.+-]*$/.test(type)) {
    throw new FetchRefused("content_type", type);
  }
  if (kind === "image") {
    if (/^image\/[a-z0-9.+-]+$/.test(type)) return type;
    const sniffed = GENERIC_TYPES.has(type) ? sniffType(bytes) : null;
    if (sniffed?.startsWith("image/")) return sniffed;
  } else if (kind === "font") {
    if (FONT_TYPES.has(type)) return type;
    const sniffed = GENERIC_TYPES.has(type) ? sniffType(bytes) : null;
    if (sniffed?.startsWith("font/")) return sniffed;
  } else if (kind === "stylesheet") {
    if (type === "text/css") return type;
  }
  throw new FetchRefused("content_type", `${type || "none"} for ${kind}`);
}

function toBase64(bytes) {
  let out = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
  }
  return btoa(out);
}

export function toDataUrl(type, bytes) {
  return `data:${type};base64,${toBase64(bytes)}`;
}

async function readCapped(response, cap, abort) {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > cap) {
    abort();
    throw new FetchRefused("too_large", `${declared} bytes`);
  }
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      abort();
      throw new FetchRefused("too_large", `over ${cap} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

export class FetchGuard {
  /**
   * @param {object} deps fetch, webRequest (messenger.webRequest), extensionOrigin ("moz-extension://uuid/"),
   *                      timers {setTimeout, clearTimeout}
   */
  constructor({ fetch, webRequest, extensionOrigin, timers = globalThis, timeoutMs = FETCH_TIMEOUT_MS }) {
    this.fetchImpl = fetch;
    this.extensionOrigin = extensionOrigin;
    this.timers = timers;
    this.timeoutMs = timeoutMs;
    this.permits = []; // {url, approveRedirect, hops: Set<url>}
    this.byRequest = new Map(); // webRequest requestId -> permit
    this.listener = (details) => this.onBeforeRequest(details);
    webRequest.onBeforeRequest.addListener(this.listener, { urls: ["<all_urls>"] }, ["blocking"]);
  }

  isOurs(details) {
    const origin = details.originUrl ?? details.documentUrl ?? "";
    return details.tabId === -1 && origin.startsWith(this.extensionOrigin);
  }

  /** The webRequest gate. Returns {} to let a request go, {cancel: true} to stop it. */
  onBeforeRequest(details) {
    if (!this.isOurs(details)) {
      return {}; // not ours: Thunderbird's own traffic is not this listener's business
    }
    const known = this.byRequest.get(details.requestId);
    if (known) {
      if (known.hops.has(details.url)) {
        return {};
      }
      // A redirect hop: it leaves only if the host allows that URL too.
      return Promise.resolve(known.approveRedirect(details.url))
        .catch(() => false)
        .then((ok) => {
          if (ok) {
            known.hops.add(details.url);
            return {};
          }
          known.refusedRedirect = details.url;
          return { cancel: true };
        });
    }
    const permit = this.permits.find((p) => p.url === details.url && !p.bound);
    if (!permit) {
      return { cancel: true }; // nothing else is ever fetched
    }
    permit.bound = true;
    this.byRequest.set(details.requestId, permit);
    permit.requestId = details.requestId;
    return {};
  }

  /**
   * Fetches one allowed resource.
   * @returns {Promise<{url, finalUrl, type, bytes: Uint8Array}>} or rejects with FetchRefused.
   */
  async fetch(url, kind, { approveRedirect = () => false } = {}) {
    const cap = LIMITS[kind];
    if (cap === undefined) {
      throw new FetchRefused("kind", kind);
    }
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      throw new FetchRefused("bad_url", url);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new FetchRefused("scheme", parsed.protocol);
    }
    if (parsed.username || parsed.password) {
      throw new FetchRefused("credentials_in_url");
    }
    const permit = { url: parsed.href, approveRedirect, hops: new Set([parsed.href]), bound: false };
    this.permits.push(permit);
    const controller = new AbortController();
    const timer = this.timers.setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      let response;
      try {
        response = await this.fetchImpl(parsed.href, {
          method: "GET",
          credentials: "omit",
          referrerPolicy: "no-referrer",
          referrer: "",
          cache: "no-store",
          redirect: "follow",
          mode: "cors",
          signal: controller.signal,
        });
      } catch (e) {
        if (permit.refusedRedirect) {
          throw new FetchRefused("redirect", permit.refusedRedirect);
        }
        throw new FetchRefused(controller.signal.aborted ? "timeout" : "network", String(e?.message ?? e));
      }
      // Belt and braces: the body is used only if it came from the URL or an approved hop.
      const finalUrl = response.url || parsed.href;
      if (!permit.hops.has(finalUrl)) {
        controller.abort();
        throw new FetchRefused("redirect", finalUrl);
      }
      if (!response.ok) {
        controller.abort();
        throw new FetchRefused("status", String(response.status));
      }
      const bytes = await readCapped(response, cap, () => controller.abort());
      const type = acceptedType(kind, response.headers.get("content-type"), bytes);
      return { url: parsed.href, finalUrl, type, bytes };
    } catch (e) {
      if (e instanceof FetchRefused) throw e;
      throw new FetchRefused(controller.signal.aborted ? "timeout" : "network", String(e?.message ?? e));
    } finally {
      this.timers.clearTimeout(timer);
      this.permits.splice(this.permits.indexOf(permit), 1);
      if (permit.requestId !== undefined) {
        this.byRequest.delete(permit.requestId);
      }
    }
  }

  /** For the end-to-end driver only: one plain GET (markers), still through the gate. */
  async fetchMarker(url) {
    const permit = { url: new URL(url).href, approveRedirect: () => false, hops: new Set([new URL(url).href]), bound: false };
    this.permits.push(permit);
    try {
      const response = await this.fetchImpl(permit.url, {
        credentials: "omit",
        referrerPolicy: "no-referrer",
        cache: "no-store",
        signal: AbortSignal.timeout(60000),
      });
      await response.arrayBuffer();
      return response.status;
    } finally {
      this.permits.splice(this.permits.indexOf(permit), 1);
      if (permit.requestId !== undefined) {
        this.byRequest.delete(permit.requestId);
      }
    }
  }
}
