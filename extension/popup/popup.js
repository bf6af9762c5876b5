/* Popup entry: asks the background for the model of the active tab and renders it. */

import { renderPopup } from "./popup-view.js";

const t = (key, subs = []) => messenger.i18n.getMessage(key, subs);
const root = document.getElementById("root");
document.documentElement.lang = messenger.i18n.getUILanguage();
document.title = t("popupTitle");

const [tab] = await messenger.tabs.query({ active: true, currentWindow: true });
const tabId = tab?.id;

let shown = "";

/** Renders only when something changed: the page is a live region, re-rendering would re-announce it. */
function show(model, { force = false } = {}) {
  const json = JSON.stringify(model);
  if (!force && json === shown) return;
  shown = json;
  renderPopup(document, root, model, t, choose);
}

async function choose(action, scope, value) {
  try {
    show(await messenger.runtime.sendMessage({ type: "popup.choose", tabId, action, scope, value }), { force: true });
    // Keep keyboard users in place: focus goes to the first choice (often the new "Undo").
    root.querySelector(".actions button")?.focus();
    if (action === "revoke") {
      const note = document.createElement("p");
      note.className = "notice";
      note.setAttribute("role", "status");
      note.textContent = t("popupUndone");
      root.append(note);
    }
  } catch (e) {
    const note = document.createElement("p");
    note.className = "notice failing";
    note.setAttribute("role", "alert");
    note.textContent = t("popupError", [String(e?.message ?? e)]);
    root.append(note);
  }
}

const settings = document.getElementById("settings");
settings.textContent = t("popupSettings");
settings.addEventListener("click", () => messenger.runtime.openOptionsPage());

show(await messenger.runtime.sendMessage({ type: "popup.get", tabId }));
// The display can still be settling (late DNS answers): refresh while the popup is open.
const timer = setInterval(async () => {
  if (document.activeElement && document.activeElement !== document.body) return; // do not steal focus
  show(await messenger.runtime.sendMessage({ type: "popup.get", tabId }));
}, 1500);
window.addEventListener("unload", () => clearInterval(timer));
