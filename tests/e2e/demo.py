"""`make run`: Pixel Warden in your own Thunderbird in a minute, without touching your setup.

What it does, and what it leaves alone:
- a fresh temporary profile (never your own), with the add-on side-loaded and a demo mailbox of
  the end-to-end fixture messages (all senders are made up, under .example and .test);
- a temporary HOME for that Thunderbird, where `pixelwarden install` puts the native-messaging
  manifest: Thunderbird looks for it under $HOME/.mozilla, so your real ~/.mozilla is not written;
- the profile sends every request to a local logging proxy that never forwards anything and answers
  with small generated images: the demo makes no request to the Internet, and the terminal shows
  each request as it happens (trackers never show up there);
- the host resolves names through a local DNS server that plays the demo's CNAME cloaking.
Close Thunderbird to end the demo; the temporary folder is then removed (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from dnsserver import ZoneDNSServer, load_zone
from proxy import LoggingProxy
from tbprofile import create_profile
from testca import TestCA
from thunderbird import thunderbird_binary

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PIXELWARDEN = REPO / ".venv" / "bin" / "pixelwarden"
# What a desktop session needs to reach the user's display, besides HOME.
DESKTOP_VARIABLES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "XDG_SESSION_TYPE",
    "DBUS_SESSION_BUS_ADDRESS",
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in DESKTOP_VARIABLES}
    real_home = Path(os.environ.get("HOME", "~")).expanduser()
    authority = os.environ.get("XAUTHORITY") or str(real_home / ".Xauthority")
    if Path(authority).exists():
        env["XAUTHORITY"] = authority  # found through HOME otherwise, which is about to change
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MOZ_NO_REMOTE": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
        }
    )
    return env


def newest_xpi() -> Path:
    candidates = sorted((REPO / "build").glob("pixelwarden-*.xpi"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        sys.exit("make run: no build/pixelwarden-*.xpi (run `make xpi`)")
    return candidates[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description="Pixel Warden demo in a temporary profile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--xpi", help="add-on package (default: newest build/pixelwarden-*.xpi)")
    args = parser.parse_args()
    # `kill` or a closed terminal ends the demo like closing Thunderbird does: clean up first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("make run needs a desktop session (DISPLAY or WAYLAND_DISPLAY is not set).")
        return 2
    try:
        binary = thunderbird_binary()
    except FileNotFoundError as error:
        print(f"make run: {error}")
        return 2
    xpi = Path(args.xpi) if args.xpi else newest_xpi()
    root = Path(tempfile.mkdtemp(prefix="pixelwarden-demo-"))
    home = root / "home"
    home.mkdir()
    env = demo_env(home)
    dns_port = free_udp_port()
    dns = ZoneDNSServer(load_zone(HERE / "fixtures" / "zone.json"), port=dns_port).start()
    ca = TestCA(root / "ca")
    proxy = LoggingProxy(ca, root / "proxy.jsonl", web_root=HERE / "fixtures" / "web")

    def show(
        marker: str,
    ) -> None:  # markers never come in the demo; keep the hook trivial
        print(f"  marker {marker}")

    proxy.on_marker = show
    proxy.start()
    try:
        subprocess.run([str(PIXELWARDEN), "install"], env=env, check=True, capture_output=True)
        settings = {
            "format": "pixelwarden-settings",
            "version": 1,
            "settings": {
                "mode": "strict",
                "uncloak": True,
                "resolver": f"127.0.0.1:{dns_port}",
                "identities": ["reader@home.example"],
            },
            "overrides": [],
        }
        settings_file = root / "settings.json"
        settings_file.write_text(json.dumps(settings), encoding="utf-8")
        subprocess.run(
            [str(PIXELWARDEN), "settings", "import", str(settings_file)],
            env=env,
            check=True,
            capture_output=True,
        )
        fixtures = sorted((HERE / "fixtures").glob("*.eml"))
        messages = [(i, p.name, p.read_bytes()) for i, p in enumerate(fixtures, start=1)]
        profile = create_profile(
            root / "profile",
            xpi=xpi,
            messages=messages,
            proxy_port=proxy.port,
            ca_pem=ca.cert_path,
            open_inbox=True,
        )
        print(f"Pixel Warden demo: Thunderbird with a temporary profile in {root}")
        print(
            f"  {len(messages)} sample messages in Local Folders > Inbox; click one, then the"
            " Pixel Warden button for the popup."
        )
        print(f"  Every request goes to a local proxy (port {proxy.port}) that forwards nothing:")
        seen = 0
        process = subprocess.Popen(
            [binary, "--no-remote", "-profile", str(profile)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
            for entry in proxy.entries()[seen:]:
                if entry.method != "CONNECT":
                    print(f"  loaded {entry.url}")
            seen = len(proxy.entries())
        print("Thunderbird closed: demo over.")
    finally:
        if "process" in locals() and process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
        proxy.stop()
        dns.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
