/* Builds the options page from the background's model (document and i18n passed in, for tests). */

import { el } from "../shared/dom.js";

const SCOPE_KEYS = { sender: "optionsScopeSender", domain: "optionsScopeDomain", message: "optionsScopeMessage" };

function hostSection(doc, t, model, actions) {
  const section = el(doc, "section", { "aria-labelledby": "host-heading" }, [el(doc, "h2", { id: "host-heading", text: t("optionsHostHeading") })]);
  const host = model.host;
  if (host.state === "ready") {
    section.append(el(doc, "p", { role: "status", text: t("optionsHostReady", [String(host.host_version ?? "?"), model.addon_version]) }));
  } else {
    const key = { connecting: "optionsHostConnecting", missing: "optionsHostMissing", outdated: "optionsHostOutdated" }[host.state] ?? "optionsHostFailing";
    section.append(
      el(doc, "p", { className: "notice failing", role: "alert", text: t(key, [String(host.error ?? "")]) }),
      el(doc, "p", { text: t("optionsDoctorHint") }),
      el(doc, "button", { type: "button", text: t("optionsReconnect"), onclick: actions.reconnect }),
    );
  }
  if (model.warnings.length > 0) {
    const list = el(doc, "ul");
    for (const w of model.warnings) list.append(el(doc, "li", { text: w }));
    section.append(el(doc, "h3", { text: t("optionsWarningsHeading") }), list);
  }
  return section;
}

function settingsSection(doc, t, model, actions) {
  const s = model.settings ?? { mode: "strict", uncloak: true, resolver: null };
  const disabled = model.host.state !== "ready" || !model.settings;
  const form = el(doc, "form", { id: "settings-form" });
  const radio = (value, key) =>
    el(doc, "label", { className: "row" }, [el(doc, "input", { type: "radio", name: "mode", value, checked: s.mode === value, disabled }), doc.createTextNode(" " + t(key))]);
  const uncloak = el(doc, "input", { type: "checkbox", id: "uncloak", checked: s.uncloak === true, disabled: disabled || !model.uncloaking_available });
  const resolver = el(doc, "input", { type: "text", id: "resolver", value: s.resolver ?? "", disabled, spellcheck: "false", autocomplete: "off" });
  const status = el(doc, "p", { id: "settings-status", role: "status" });
  const children = [
    el(doc, "fieldset", {}, [el(doc, "legend", { text: t("optionsModeHeading") }), radio("strict", "optionsModeStrict"), radio("relaxed", "optionsModeRelaxed")]),
    el(doc, "label", { className: "row" }, [uncloak, doc.createTextNode(" " + t("optionsUncloak"))]),
    model.uncloaking_available ? null : el(doc, "p", { className: "quiet", text: t("optionsUncloakUnavailable") }),
    el(doc, "label", { className: "row", for: "resolver", text: t("optionsResolver") }),
    resolver,
    el(doc, "div", {}, [el(doc, "button", { type: "submit", className: "primary", text: t("optionsSave"), disabled })]),
    status,
  ];
  form.append(...children.filter(Boolean));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const mode = form.querySelector('input[name="mode"]:checked')?.value ?? "strict";
    const value = resolver.value.trim();
    actions.save({ mode, uncloak: uncloak.checked, resolver: value === "" ? null : value }, status);
  });
  return el(doc, "section", {}, [form]);
}

function listsSection(doc, t, model) {
  const section = el(doc, "section", {}, [el(doc, "h2", { text: t("optionsListsHeading") })]);
  if (model.lists.length === 0) {
    section.append(el(doc, "p", { className: "quiet", text: t("optionsNoLists") }));
  } else {
    const list = el(doc, "ul");
    for (const l of model.lists) {
      const name = String(l.name);
      const text =
        typeof l.age_days !== "number"
          ? t("optionsListNever", [name])
          : t(l.stale === true ? "optionsListStale" : "optionsListAge", [name, String(Math.floor(l.age_days))]);
      list.append(el(doc, "li", { text }));
    }
    section.append(list);
  }
  return section;
}

function overridesSection(doc, t, model, actions) {
  const section = el(doc, "section", { "aria-labelledby": "allowed-heading" }, [el(doc, "h2", { id: "allowed-heading", text: t("optionsAllowedHeading") })]);
  const rows = model.overrides;
  if (rows.length === 0) {
    section.append(el(doc, "p", { className: "quiet", text: t("optionsAllowedNone") }));
    return section;
  }
  const table = el(doc, "table");
  for (const o of rows) {
    const scope = o.action === "block" ? t("optionsBlockedDomain") : t(SCOPE_KEYS[o.scope] ?? "optionsScopeSender");
    table.append(
      el(doc, "tr", {}, [
        el(doc, "td", { text: scope }),
        el(doc, "td", { className: "value", text: String(o.value) }),
        el(doc, "td", {}, [el(doc, "button", { type: "button", text: t("optionsRemove"), onclick: () => actions.revoke(o) })]),
      ]),
    );
  }
  section.append(table);
  return section;
}

/** Renders the options page into `root`. `actions`: save(settings, statusEl), revoke(override), reconnect(), undo. */
export function renderOptions(doc, root, model, t, actions) {
  root.replaceChildren(
    el(doc, "h1", { text: t("optionsTitle") }),
    hostSection(doc, t, model, actions),
    settingsSection(doc, t, model, actions),
    listsSection(doc, t, model),
    overridesSection(doc, t, model, actions),
  );
  if (actions.undo) {
    root.append(
      el(doc, "p", { className: "notice", role: "status" }, [
        doc.createTextNode(t("optionsRemoved", [actions.undo.label]) + " "),
        el(doc, "button", { type: "button", text: t("optionsUndo"), onclick: actions.undo.run }),
      ]),
    );
  }
}
