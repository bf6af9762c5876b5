/* Options page entry: everything is asked of the background, which asks the host. */

import { renderOptions } from "./options-view.js";

const t = (key, subs = []) => messenger.i18n.getMessage(key, subs);
const root = document.getElementById("root");
document.documentElement.lang = messenger.i18n.getUILanguage();
document.title = t("optionsTitle");

let undo = null;

const actions = {
  async save(settings, status) {
    try {
      show(await messenger.runtime.sendMessage({ type: "options.setSettings", settings }));
      document.getElementById("settings-status").textContent = t("optionsSaved");
    } catch (e) {
      status.textContent = t("optionsNotSaved", [String(e?.message ?? e)]);
    }
  },
  async revoke(override) {
    const model = await messenger.runtime.sendMessage({ type: "options.revoke", scope: override.scope, value: override.value });
    undo = {
      label: String(override.value),
      run: async () => {
        undo = null;
        // Undo = the same choice again.
        await messenger.runtime.sendMessage({ type: "popup.choose", tabId: -1, action: override.action === "block" ? "block" : "allow", scope: override.scope, value: override.value });
        show(await messenger.runtime.sendMessage({ type: "options.get" }));
      },
    };
    show(model);
  },
  async reconnect() {
    show(await messenger.runtime.sendMessage({ type: "options.reconnect" }));
  },
};

function show(model) {
  renderOptions(document, root, model, t, { ...actions, undo });
}

show(await messenger.runtime.sendMessage({ type: "options.get" }));
