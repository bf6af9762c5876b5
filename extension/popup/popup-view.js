/* Builds the popup's DOM from the background's model. Every string from a message (URLs, company
 * names, addresses) goes in with textContent: nothing is ever parsed as HTML. Takes the document and
 * the translation function as arguments so that it can be tested outside Thunderbird. */

import { el } from "../shared/dom.js";

export function reasonText(t, reason) {
  const words = t(reason.key, reason.key === "reasonUnknown" ? [reason.detail] : []);
  return reason.detail && reason.key !== "reasonUnknown" ? t("reasonWithDetail", [words, reason.detail]) : words;
}

function trackersSection(doc, t, model) {
  const section = el(doc, "section", { "aria-labelledby": "trackers-heading" });
  section.append(el(doc, "h2", { id: "trackers-heading", text: t("popupTrackersHeading", [String(model.trackers.count)]) }));
  if (model.trackers.count === 0) {
    section.append(el(doc, "p", { className: "quiet", text: t("popupNoTrackers") }));
    return section;
  }
  const few = model.trackers.companies.length <= 3; // then the reasons are shown without a click
  for (const group of model.trackers.companies) {
    const details = el(doc, "details", few ? { className: "company", open: "" } : { className: "company" });
    const name = group.company ?? t("popupUnknownCompany");
    details.append(el(doc, "summary", {}, [el(doc, "span", { className: "company-name", text: name }), el(doc, "span", { className: "count", text: String(group.entries.length) })]));
    const list = el(doc, "ul");
    for (const entry of group.entries) {
      const reasons = el(doc, "ul", { className: "reasons" });
      for (const reason of entry.reasons) reasons.append(el(doc, "li", { text: reasonText(t, reason) }));
      list.append(el(doc, "li", {}, [el(doc, "div", { className: "host", text: entry.host, title: entry.url }), reasons]));
    }
    details.append(list);
    section.append(details);
  }
  return section;
}

function choiceButton(doc, label, onclick, className = "") {
  return el(doc, "button", { type: "button", className, text: label, onclick });
}

function otherSection(doc, t, model, act) {
  const section = el(doc, "section", { "aria-labelledby": "other-heading" });
  section.append(el(doc, "h2", { id: "other-heading", text: t("popupOtherHeading", [String(model.other_blocked.count)]) }));
  if (model.other_blocked.count > 0) {
    const hosts = el(doc, "ul", { className: "hosts" });
    for (const h of model.other_blocked.hosts.slice(0, 8)) hosts.append(el(doc, "li", { text: t("popupOtherHost", [h.host, String(h.count)]) }));
    section.append(hosts);
  }
  const choices = model.choices ?? {};
  const actions = el(doc, "div", { className: "actions" });
  if (choices.message) {
    if (choices.message.active) {
      actions.append(el(doc, "p", { text: t("popupLoadRestActive") }), choiceButton(doc, t("popupUndo"), () => act("revoke", "message", choices.message.value)));
    } else if (model.other_blocked.count > 0) {
      actions.append(choiceButton(doc, t("popupLoadRest"), () => act("allow", "message", choices.message.value), "primary"));
    }
  }
  for (const [scope, always, active] of [
    ["sender", "popupAlwaysSender", "popupActiveSender"],
    ["domain", "popupAlwaysDomain", "popupActiveDomain"],
  ]) {
    const choice = choices[scope];
    if (!choice) continue;
    if (choice.active) {
      actions.append(el(doc, "p", { text: t(active, [choice.value]) }), choiceButton(doc, t("popupUndo"), () => act("revoke", scope, choice.value)));
    } else {
      actions.append(choiceButton(doc, t(always, [choice.value]), () => act("allow", scope, choice.value)));
    }
  }
  if (actions.childNodes.length > 0) {
    section.append(actions, el(doc, "p", { className: "quiet", text: t("popupTrackersStayBlocked") }));
  }
  return section;
}

/**
 * Renders `model` into `root` (replacing its content).
 * @param {Document} doc
 * @param {Element} root
 * @param {object} model  background/popup-model.js
 * @param {(key: string, subs?: string[]) => string} t  i18n.getMessage
 * @param {(action, scope, value) => void} act  user choices
 */
export function renderPopup(doc, root, model, t, act = () => {}) {
  root.replaceChildren();
  root.append(el(doc, "h1", { text: t("popupTitle") }));
  const notice = (key, subs = [], className = "notice") => root.append(el(doc, "p", { className, role: "status", text: t(key, subs) }));
  switch (model.state) {
    case "no_message":
      notice("popupNoMessage");
      return;
    case "checking":
      notice("popupChecking");
      return;
    case "host_missing":
      notice("popupHostMissing", [], "notice failing");
      return;
    case "host_outdated":
      notice("popupHostOutdated", [], "notice failing");
      return;
    case "host_failing":
    case "host_connecting":
      notice("popupHostFailing", [], "notice failing");
      return;
    default:
      break;
  }
  const loaded = model.thunderbird_loaded ?? [];
  const loadedTrackers = loaded.filter((l) => l.tracker).length;
  if (loadedTrackers > 0) notice("popupThunderbirdLoadedTrackers", [String(loadedTrackers)], "notice failing");
  else if (loaded.length > 0) notice("popupThunderbirdLoaded", [], "notice");
  if (model.image_only) notice("popupImageOnly");
  if (model.pending_dns) notice("popupDnsPending", [], "notice quiet");
  root.append(trackersSection(doc, t, model), otherSection(doc, t, model, act));
  if (model.allowed > 0) root.append(el(doc, "p", { className: "quiet", text: t("popupAllowed", [String(model.allowed)]) }));
}
