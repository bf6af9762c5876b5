/* What the popup shows for one tab, as plain data. The popup never decides: it renders this. */

import { describeReason } from "./reasons.js";

export function senderAddress(fromValues) {
  const from = Array.isArray(fromValues) ? String(fromValues[0] ?? "") : String(fromValues ?? "");
  const angle = from.match(/<([^<>\s]+@[^<>\s]+)>\s*$/);
  const bare = angle ? angle[1] : from.trim();
  return /^[^\s@<>]+@[^\s@<>]+$/.test(bare) ? bare.toLowerCase() : null;
}

function hostOf(url) {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

function stripAngles(messageId) {
  return messageId ? String(messageId).replace(/^<|>$/g, "") : null;
}

/** Is there an allow override for this scope and value (the host's list)? */
function overrideActive(overrides, scope, value) {
  if (!value) return false;
  const v = scope === "message" ? stripAngles(value) : String(value).toLowerCase();
  return overrides.some(
    (o) => o.scope === scope && o.action === "allow" && (scope === "message" ? stripAngles(o.value) : String(o.value).toLowerCase()) === v,
  );
}

/**
 * @param {object|null} session  the tab's DisplaySession (or null)
 * @param {object} host          HostPort.snapshot()
 * @param {Array} overrides      the host's override list
 */
export function buildPopupModel(session, host, overrides = []) {
  if (!session) {
    return { state: "no_message", host };
  }
  const base = {
    host,
    message: {
      subject: session.message.subject ?? "",
      author: session.message.author ?? "",
      message_id: stripAngles(session.message.headerMessageId),
    },
    thunderbird_loaded: [...session.thunderbirdLoaded].map((url) => ({
      url,
      tracker: session.verdict.decision(url)?.tracker === true,
    })),
  };
  if (session.outcome === "host_failing" || (session.verdict.main === null && host.state !== "ready" && host.state !== "connecting")) {
    return { ...base, state: host.state === "ready" || host.state === "connecting" ? "host_failing" : `host_${host.state}` };
  }
  if (session.verdict.main === null) {
    return { ...base, state: "checking" };
  }
  const verdict = session.verdict.main;
  const byCompany = new Map();
  const otherHosts = new Map();
  let otherCount = 0;
  let pendingDns = false;
  for (const d of session.verdict.decisions().values()) {
    if (d.action !== "block") continue;
    if (d.reasons.some((r) => r.startsWith("dns_pending"))) pendingDns = true;
    if (d.tracker) {
      const company = d.company ?? null;
      if (!byCompany.has(company)) byCompany.set(company, []);
      byCompany.get(company).push({
        url: d.url,
        host: hostOf(d.url),
        kind: d.kind,
        reasons: d.reasons.map(describeReason).filter((r) => r.key !== "reasonThirdParty" && r.key !== "reasonFirstParty"),
        leaks: d.leaks,
      });
    } else {
      otherCount++;
      const h = hostOf(d.url);
      otherHosts.set(h, (otherHosts.get(h) ?? 0) + 1);
    }
  }
  const companies = [...byCompany.entries()]
    .map(([company, entries]) => ({ company, entries }))
    .sort((a, b) => b.entries.length - a.entries.length || String(a.company ?? "~").localeCompare(String(b.company ?? "~")));
  const sender = senderAddress(session.headers?.from);
  const domain = typeof verdict.sender_domain === "string" && verdict.sender_domain ? verdict.sender_domain : null;
  const messageId = base.message.message_id;
  const counts = session.verdict.counts();
  return {
    ...base,
    state: "ready",
    trackers: { count: counts.trackers_blocked, companies },
    other_blocked: {
      count: otherCount,
      hosts: [...otherHosts.entries()].map(([h, n]) => ({ host: h, count: n })).sort((a, b) => b.count - a.count),
    },
    // What was really put back (allowed media, frames and objects are never loaded, so not counted).
    allowed: session.injected ? session.injected.size : 0,
    image_only: verdict.image_only === true,
    mode: verdict.mode === "relaxed" ? "relaxed" : "strict",
    pending_dns: pendingDns,
    choices: {
      message: messageId ? { value: messageId, active: overrideActive(overrides, "message", messageId) } : null,
      sender: sender ? { value: sender, active: overrideActive(overrides, "sender", sender) } : null,
      domain: domain ? { value: domain, active: overrideActive(overrides, "domain", domain) } : null,
    },
  };
}
