// Test-only canary for the end-to-end harness: fetches through the proxy over http and https
// (TLS terminated by the run's CA) and lists the Local Folders Inbox, reporting on stdout.
"use strict";

function report(data) {
  console.log("PIXELWARDEN-E2E " + JSON.stringify(data));
}

async function fetchAndReport(url) {
  try {
    const response = await fetch(url, { credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" });
    const bytes = (await response.arrayBuffer()).byteLength;
    report({ event: "fetch", url, status: response.status, type: response.headers.get("content-type"), bytes });
  } catch (error) {
    report({ event: "fetch", url, error: String(error) });
  }
}

async function inboxSubjects() {
  const subjects = [];
  for (const account of await messenger.accounts.list()) {
    report({ event: "folders", account: account.name, folders: (account.folders || []).map((f) => [f.name, f.type, f.path, f.id]) });
    for (const folder of account.folders || []) {
      if (folder.name !== "Inbox") continue;
      // An mbox written by the harness is only parsed when the folder is opened.
      try {
        const tabs = await messenger.mailTabs.query({});
        report({ event: "mailtabs", tabs: tabs.map((t) => t.id) });
        if (tabs.length) {
          const timeout = new Promise((r) => setTimeout(() => r("timeout"), 3000));
          const result = await Promise.race([messenger.mailTabs.update(tabs[0].id, { displayedFolder: folder.id }).then(() => "ok"), timeout]);
          report({ event: "displayedFolder", result });
        }
      } catch (error) {
        report({ event: "displayedFolder", error: String(error) });
      }
      let page = await messenger.messages.list(folder.id ?? folder);
      for (;;) {
        for (const message of page.messages) subjects.push(message.subject);
        if (!page.id) break;
        page = await messenger.messages.continueList(page.id);
      }
    }
  }
  return subjects;
}

async function main() {
  await fetchAndReport("http://marker.pixelwarden.test/begin/0");
  await fetchAndReport("http://plain.shop.example/logo-20x10-00aa00.png");
  await fetchAndReport("https://tls.shop.example/logo-20x10-ff0000.png");
  await fetchAndReport("http://marker.pixelwarden.test/end/0");
  for (let i = 0; i < 10; i++) {
    const subjects = await inboxSubjects();
    report({ event: "inbox", attempt: i, subjects });
    if (subjects.length) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  report({ event: "done" });
}

main();
