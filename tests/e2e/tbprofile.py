"""Throw-away Thunderbird profiles for the end-to-end run and the demo.

A profile holds: the side-loaded add-on (``extensions/<id>.xpi``), quiet prefs in ``user.js``
(no first-run dialogs, no updates, telemetry or region look-ups, console to stdout), the proxy
prefs, a Local Folders account whose ``Inbox`` mbox holds the messages, and the run's CA trusted in
``cert9.db``. Thunderbird's own remote-content blocking is left at its default (on): the add-on
must work with that wall up, and the run would prove nothing otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

ADDON_ID = "pixelwarden@pixelwarden.org"
INDEX_HEADER = "X-Pixelwarden-E2E-Index"
WINDOW_SIZE = (1280, 860)

# Seen on Thunderbird 153 (../shared/docs/thunderbird-notes.md) plus the usual switches that keep
# a test browser from calling home.
QUIET_PREFS: dict[str, object] = {
    # side-loading an unsigned add-on
    "extensions.autoDisableScopes": 0,
    "extensions.enabledScopes": 15,
    "extensions.startupScanScopes": 15,
    "xpinstall.signatures.required": False,
    # no first-run UI
    "mail.provider.suppress_dialog_on_startup": True,
    "mail.shell.checkDefaultClient": False,
    "mailnews.start_page.enabled": False,
    "mail.rights.override": True,
    "mail.rights.version": 1,
    "mail.spotlight.firstRunDone": True,
    "mail.winsearch.firstRunDone": True,
    "toolkit.startup.max_resumed_crashes": -1,
    "browser.shell.checkDefaultBrowser": False,
    "mailnews.database.global.indexer.enabled": False,
    "mail.uidensity": 1,
    # nothing calls home
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "app.update.checkInstallTime": False,
    "app.normandy.enabled": False,
    "extensions.update.enabled": False,
    "extensions.update.autoUpdateDefault": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "network.trr.mode": 5,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "security.OCSP.enabled": 0,
    "security.remote_settings.crlite_filters.enabled": False,
    "security.certerrors.mitm.priming.enabled": False,
    "services.settings.server": "http://remote-settings.invalid/v1",
    "mail.instrumentation.postUrl": "",
    "mailnews.auto_config_url": "",
    "mail.cloud_files.enabled": False,
    "messenger.startup.action": 0,
    # console.log of extensions and chrome to stdout: the test driver's reports arrive there
    "devtools.console.stdout.content": True,
    "devtools.console.stdout.chrome": True,
}


def proxy_prefs(port: int) -> dict[str, object]:
    """Every request, http and https, to the logging proxy; nothing bypasses it."""
    return {
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": port,
        "network.proxy.share_proxy_settings": True,
        "network.proxy.no_proxies_on": "",
        "network.proxy.allow_hijacking_localhost": True,
        "network.proxy.socks_remote_dns": True,
    }


def local_folders_prefs() -> dict[str, object]:
    return {
        "mail.accountmanager.accounts": "account1",
        "mail.accountmanager.localfoldersserver": "server1",
        "mail.account.account1.server": "server1",
        "mail.account.lastKey": 1,
        "mail.server.server1.type": "none",
        "mail.server.server1.hostname": "Local Folders",
        "mail.server.server1.name": "Local Folders",
        "mail.server.server1.userName": "nobody",
        "mail.server.server1.directory-rel": "[ProfD]Mail/Local Folders",
        "mail.server.server1.storeContractID": "@mozilla.org/msgstore/berkeleystore;1",
        "mail.serverDefaultStoreContractID": "@mozilla.org/msgstore/berkeleystore;1",
    }


def _pref_line(name: str, value: object) -> str:
    return f"user_pref({json.dumps(name)}, {json.dumps(value)});"


def write_user_js(profile: Path, prefs: Mapping[str, object]) -> None:
    lines = [_pref_line(name, value) for name, value in prefs.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n", encoding="utf-8")


_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def mbox_bytes(messages: Iterable[tuple[int, str, bytes]]) -> bytes:
    """An mbox (mboxrd quoting) of ``(index, name, raw message)``.

    Each message gets a header naming its index and file, so that what the test driver reports
    can be tied back to a file whatever order Thunderbird lists the folder in.
    """
    out = bytearray()
    for index, name, raw in messages:
        body = raw.replace(b"\r\n", b"\n")
        if body.startswith(b"From ") and b"\n" in body:  # an mbox separator left in a .eml
            body = body.split(b"\n", 1)[1]
        safe_name = name.encode("ascii", "replace").replace(b"\n", b" ")
        header = INDEX_HEADER.encode() + b": " + str(index).encode() + b" " + safe_name + b"\n"
        out += b"From pixelwarden-e2e@localhost Sat Nov 28 00:00:00 2026\n"
        out += header
        out += _FROM_LINE.sub(rb">\1", body)
        if not out.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    return bytes(out)


def create_profile(
    profile: Path,
    *,
    xpi: Path | None,
    messages: Iterable[tuple[int, str, bytes]],
    proxy_port: int | None,
    ca_pem: Path | None,
    extra_prefs: Mapping[str, object] | None = None,
    open_inbox: bool = False,
    addon_id: str = ADDON_ID,
) -> Path:
    profile.mkdir(parents=True, exist_ok=True)
    prefs: dict[str, object] = dict(QUIET_PREFS)
    prefs.update(local_folders_prefs())
    if proxy_port is not None:
        prefs.update(proxy_prefs(proxy_port))
    if extra_prefs:
        prefs.update(extra_prefs)
    write_user_js(profile, prefs)
    if xpi is not None:
        extensions = profile / "extensions"
        extensions.mkdir(exist_ok=True)
        shutil.copyfile(xpi, extensions / f"{addon_id}.xpi")
    # A window as large as the Xvfb screen: message, badge and popup all fit in the screenshots
    # (there is no window manager under Xvfb to maximise it).
    xulstore = {
        "chrome://messenger/content/messenger.xhtml": {
            "messengerWindow": {
                "sizemode": "normal",
                "screenX": "0",
                "screenY": "0",
                "width": str(WINDOW_SIZE[0]),
                "height": str(WINDOW_SIZE[1]),
            }
        }
    }
    (profile / "xulstore.json").write_text(json.dumps(xulstore), encoding="utf-8")
    mail = profile / "Mail" / "Local Folders"
    mail.mkdir(parents=True, exist_ok=True)
    (mail / "Inbox").write_bytes(mbox_bytes(messages))
    if open_inbox:
        show_inbox_at_start(profile)
    if ca_pem is not None:
        trust_ca(profile, ca_pem)
    return profile


def show_inbox_at_start(profile: Path) -> None:
    """Start with Local Folders expanded and its Inbox shown, as if the last session ended there
    (the shapes of Thunderbird's folderTree.json and session.json, as it writes them)."""
    server = "mailbox://nobody@Local%20Folders"
    (profile / "folderTree.json").write_text(json.dumps({"open": {"all": [server]}}))
    first_tab = {
        "mode": "mail3PaneTab",
        "state": {
            "firstTab": True,
            "folderPaneVisible": True,
            "folderURI": f"{server}/Inbox",
            "messagePaneVisible": True,
        },
    }
    session = {
        "rev": 0,
        "windows": [{"type": "3pane", "tabs": {"rev": 0, "selectedIndex": 0, "tabs": [first_tab]}}],
    }
    (profile / "session.json").write_text(json.dumps(session), encoding="utf-8")


def trust_ca(profile: Path, ca_pem: Path) -> None:
    """Trust the run's CA for TLS servers in this profile only (NSS database cert9.db)."""
    database = f"sql:{profile}"
    if not (profile / "cert9.db").exists():
        subprocess.run(
            ["certutil", "-N", "-d", database, "--empty-password"],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [
            "certutil",
            "-A",
            "-n",
            "pixelwarden-e2e-ca",
            "-t",
            "C,,",
            "-i",
            str(ca_pem),
            "-d",
            database,
        ],
        check=True,
        capture_output=True,
    )
