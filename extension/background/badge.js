/* The toolbar badge of the message display action, per tab. */

export const BADGE_COLORS = Object.freeze({
  count: "#3c4f76", // calm: the number of trackers stopped
  checking: "#6b7280",
  failing: "#c5221f", // distinct: the host is missing or failing and nothing extra loads
});

export const FAILING_TEXT = "×";
export const CHECKING_TEXT = "…";

/**
 * What the badge should say for a tab, as data (tested without Thunderbird).
 * @param {object|null} session  the tab's DisplaySession, null when no single message is shown
 * @param {object} host          HostPort.snapshot()
 * @returns {{text, color, title: {key, substitutions}}}
 */
export function badgeFor(session, host) {
  if (!session) {
    return { text: "", color: BADGE_COLORS.count, title: { key: "actionTitle", substitutions: [] } };
  }
  if (session.outcome === "host_failing" || (session.verdict.main === null && !["ready", "connecting"].includes(host.state))) {
    const key = host.state === "missing" ? "badgeTitleHostMissing" : host.state === "outdated" ? "badgeTitleHostOutdated" : "badgeTitleHostFailing";
    return { text: FAILING_TEXT, color: BADGE_COLORS.failing, title: { key, substitutions: [] } };
  }
  if (session.verdict.main === null) {
    return { text: CHECKING_TEXT, color: BADGE_COLORS.checking, title: { key: "badgeTitleChecking", substitutions: [] } };
  }
  const { trackers_blocked: trackers, other_blocked: other } = session.verdict.counts();
  return {
    text: String(trackers),
    color: BADGE_COLORS.count,
    title: { key: "badgeTitleCount", substitutions: [String(trackers), String(other)] },
  };
}

export class Badge {
  constructor(action, i18n) {
    this.action = action; // messenger.messageDisplayAction
    this.i18n = i18n;
  }

  async show(tabId, state) {
    await Promise.all([
      this.action.setBadgeText({ tabId, text: state.text }),
      this.action.setBadgeBackgroundColor({ tabId, color: state.color }),
      this.action.setTitle({ tabId, title: this.i18n.getMessage(state.title.key, state.title.substitutions) }),
    ]);
  }
}
