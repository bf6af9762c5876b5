// Shared set-up for the background tests: a Warden running against the fake Thunderbird.
import "../../extension/shared/css-urls.js";
import { Warden } from "../../extension/background/warden.js";
import { createFakeThunderbird, settle } from "./fake-messenger.mjs";

export async function startWarden(options = {}) {
  const fake = createFakeThunderbird(options);
  const warden = new Warden(fake.messenger, { fetch: fake.network.fetch, css: globalThis.pixelwardenCss, timers: fake.clock });
  await warden.start();
  await settle();
  return { fake, warden };
}

/** Shows a message and waits until its session has nothing in flight. */
export async function show(fake, warden, tabId, message, { ack = true } = {}) {
  const port = fake.display(tabId, message.header, message.refs);
  if (port && ack) fake.autoAck(port);
  await settle();
  const session = warden.sessions.get(tabId);
  if (session) await session.whenIdle();
  await settle();
  return { port, session };
}

/** Decides like a tiny host: trackers by host name, first party = shop.example. */
export function decideBy({ trackers = [], first = ["img.shop.example"] } = {}) {
  return (url, request, overrides) => {
    const host = new URL(url).hostname;
    if (trackers.includes(host)) return { action: "block", tracker: true, company: "Acme Tracking", reasons: ["known_tracker:acme", "open_pixel"] };
    const allowMessage = overrides.some((o) => o.scope === "message" && o.action === "allow" && `<${o.value}>` === request.message.message_id);
    const allowSender = overrides.some((o) => o.scope === "sender" && o.action === "allow");
    if (first.includes(host)) return { action: "allow", party: "first", reasons: ["first_party"] };
    if (allowMessage) return { action: "allow", reasons: ["user_allow_message", "third_party"] };
    if (allowSender) return { action: "allow", reasons: ["user_allow_sender", "third_party"] };
    return { action: "block", reasons: ["third_party", "strict_mode"] };
  };
}
