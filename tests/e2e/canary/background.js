// Test-only canary for the end-to-end harness (`run_e2e.py --canary`): without the real add-on,
// proves that Thunderbird reaches the logging proxy over http and https (TLS terminated with the
// run's CA, trusted in the profile) and that the harness's mbox shows up as the Inbox.
"use strict";

const REPORT = "PIXELWARDEN-E2E ";

function report(data) {
  console.log(REPORT + JSON.stringify(data));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function fetchAndReport(url) {
  try {
    const response = await fetch(url, { credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" });
    const bytes = (await response.arrayBuffer()).byteLength;
    report({ event: "fetch", url, status: response.status, type: response.headers.get("content-type"), bytes });
  } catch (error) {
    report({ event: "fetch", url, error: String(error) });
  }
}

async function inbox() {
  for (let attempt = 0; attempt < 40; attempt++) {
    for (const account of await messenger.accounts.list()) {
      const folder = (account.folders || []).find((f) => f.path === "/Inbox");
      if (account.type === "none" && folder) return folder;
    }
    await sleep(250);
  }
  return null;
}

async function subjects(folder) {
  // A freshly written mbox is listed empty until the folder is shown (Thunderbird may reject the
  // call in headless mode and index the folder anyway).
  const [tab] = await messenger.mailTabs.query({});
  if (tab) await messenger.mailTabs.update(tab.id, { displayedFolder: folder.id }).catch(() => {});
  for (let attempt = 0; attempt < 40; attempt++) {
    const found = [];
    let page = await messenger.messages.list(folder.id);
    for (;;) {
      for (const message of page.messages) found.push(message.subject);
      if (!page.id) break;
      page = await messenger.messages.continueList(page.id);
    }
    if (found.length) return found;
    await sleep(250);
  }
  return [];
}

async function main() {
  await fetchAndReport("http://marker.pixelwarden.test/begin/1");
  await fetchAndReport("http://plain.shop.example/canary-20x10-00aa00.png");
  await fetchAndReport("https://tls.shop.example/canary-20x10-ff0000.png");
  await fetchAndReport("http://marker.pixelwarden.test/end/1");
  const folder = await inbox();
  report({ event: "inbox", subjects: folder ? await subjects(folder) : null });
  report({ event: "done" });
}

main();
