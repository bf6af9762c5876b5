/* The host's decisions for one displayed message, merged across requests.
 *
 * One display can need several host answers: the first `classify` (HTML + what the display script
 * saw), a second one for the url()s inside fetched stylesheets and for redirect targets, and late
 * `update`s for each. Each request's latest answer replaces its earlier one; across requests a URL
 * decided twice takes the stricter answer (block wins). A URL no answer mentions is blocked.
 */

/** The URL as the display script and the fetch guard spell it (WHATWG serialisation). */
export function normalizeUrl(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return null;
    }
    parsed.hash = "";
    return parsed.href;
  } catch {
    return null;
  }
}

function stricter(a, b) {
  // Truth table: block beats allow; a tracker label sticks; reasons of the winner first.
  if (a.action === "block" && b.action !== "block") {
    return { ...a, tracker: a.tracker || b.tracker };
  }
  if (b.action === "block" && a.action !== "block") {
    return { ...b, tracker: a.tracker || b.tracker };
  }
  return { ...a, tracker: a.tracker || b.tracker, reasons: [...new Set([...a.reasons, ...b.reasons])] };
}

export class MergedVerdict {
  constructor() {
    this.answers = new Map(); // request id -> verdict object (latest)
    this.order = []; // request ids, first answer first
  }

  /** Records the answer (classify or update) to request `requestId`. */
  set(requestId, verdict) {
    if (!verdict || !Array.isArray(verdict.resources)) {
      return;
    }
    if (!this.answers.has(requestId)) {
      this.order.push(requestId);
    }
    this.answers.set(requestId, verdict);
    this.cache = null;
  }

  /** Forgets the answer to `requestId` (it was asked again under a new id). */
  delete(requestId) {
    if (this.answers.delete(requestId)) {
      this.order = this.order.filter((id) => id !== requestId);
      this.cache = null;
    }
  }

  get main() {
    return this.order.length ? this.answers.get(this.order[0]) : null;
  }

  /** url -> decision, every request merged. */
  decisions() {
    if (this.cache) {
      return this.cache;
    }
    const byUrl = new Map();
    for (const id of this.order) {
      for (const raw of this.answers.get(id).resources) {
        const url = normalizeUrl(raw.url);
        if (url === null) {
          continue;
        }
        const decision = {
          url,
          kind: String(raw.kind ?? "other"),
          action: raw.action === "allow" ? "allow" : "block",
          tracker: raw.tracker === true,
          party: raw.party === "first" ? "first" : "third",
          company: typeof raw.company === "string" ? raw.company : null,
          leaks: Array.isArray(raw.leaks) ? raw.leaks.map(String) : [],
          reasons: Array.isArray(raw.reasons) ? raw.reasons.map(String) : [],
        };
        const earlier = byUrl.get(url);
        byUrl.set(url, earlier ? stricter(earlier, decision) : decision);
      }
    }
    this.cache = byUrl;
    return byUrl;
  }

  decision(url) {
    const key = normalizeUrl(url);
    return key === null ? undefined : this.decisions().get(key);
  }

  /** Only an explicit allow of a non-tracker loads: everything else, unknown URLs included, is blocked. */
  isAllowed(url) {
    const d = this.decision(url);
    return d !== undefined && d.action === "allow" && !d.tracker;
  }

  counts() {
    let trackers = 0;
    let blocked = 0;
    let allowed = 0;
    for (const d of this.decisions().values()) {
      if (d.action === "block") {
        blocked++;
        if (d.tracker) {
          trackers++;
        }
      } else {
        allowed++;
      }
    }
    return { trackers_blocked: trackers, blocked, allowed, other_blocked: blocked - trackers };
  }

  /** The merged verdict in the host's JSON shape (for the test driver and the popup). */
  toJSON() {
    const main = this.main;
    if (!main) {
      return null;
    }
    return {
      ...main,
      resources: [...this.decisions().values()],
      ...this.counts(),
      truncated: this.order.some((id) => this.answers.get(id).truncated === true),
    };
  }
}
