/* Background page entry point: one Warden for the whole session. */

import { Warden } from "./warden.js";
import { TestDriver, readDriverConfig } from "./test-driver.js";

const warden = new Warden(messenger, { fetch: globalThis.fetch.bind(globalThis), css: globalThis.pixelwardenCss });
const started = warden.start();

// Test-only: inert unless the end-to-end harness provides managed storage (TEST-DRIVER.md).
readDriverConfig(messenger.storage).then(async (config) => {
  if (config) {
    await started.catch(() => {});
    new TestDriver(messenger, warden, config).start();
  }
});
