"""`pixelwarden doctor`: checks the installation end to end, the way Thunderbird will use it.

Each check prints ``ok``, ``warn`` or ``FAIL`` with what it saw and, when something is wrong, what
to do. The exit status is 1 if any check failed. The handshake is real: the launcher named in the
manifest is started exactly as Thunderbird starts it (argv: manifest path, add-on id) and must
answer a framed ``hello``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .framing import HEADER
from .install import (
    ADDON_ID,
    HOST_NAME,
    detect_sandboxes,
    manifest_locations,
    platform_name,
    read_registry,
    registry_locations,
)
from .model import PixelWardenError

HANDSHAKE_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # "ok", "warn", "fail"
    detail: str
    hint: str = ""

    def render(self) -> str:
        label = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.status]
        text = f"{label}  {self.name}: {self.detail}"
        if self.hint and self.status != "ok":
            text += f"\n      hint: {self.hint}"
        return text


def find_manifest(platform: str, env: Mapping[str, str]) -> tuple[Check, Path | None]:
    """The manifest Thunderbird would read: the first place, in its order, that has one."""
    if platform == "win32":  # pragma: no cover - Windows only
        for scope, root, key in registry_locations():
            value = read_registry(root, key)
            if value:
                path = Path(value)
                detail = f"{root}\\{key} -> {path} ({scope})"
                if path.is_file():
                    return Check("manifest found", "ok", detail), path
                return Check(
                    "manifest found",
                    "fail",
                    detail + " does not exist",
                    "run `pixelwarden install`",
                ), None
        return Check(
            "manifest found", "fail", f"no registry key {registry_locations()[0][2]}",
            "run `pixelwarden install`",
        ), None  # fmt: skip
    looked = []
    for scope, location in manifest_locations(platform, env):
        path = Path(location)
        looked.append(str(path))
        if path.is_file():
            return Check("manifest found", "ok", f"{path} ({scope})"), path
    return Check(
        "manifest found",
        "fail",
        "none of " + ", ".join(looked),
        "run `pixelwarden install` (or `pixelwarden install --system` as administrator)",
    ), None


def check_manifest(path: Path) -> tuple[Check, Path | None]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Check(
            "manifest valid", "fail", f"{path}: {exc}", "run `pixelwarden install` again"
        ), None
    problems = []
    if not isinstance(manifest, dict):
        return Check(
            "manifest valid", "fail", "not a JSON object", "run `pixelwarden install`"
        ), None
    if manifest.get("name") != HOST_NAME:
        problems.append(f"name is {manifest.get('name')!r}, Thunderbird asks for {HOST_NAME!r}")
    if manifest.get("type") != "stdio":
        problems.append("type is not 'stdio'")
    if manifest.get("allowed_extensions") != [ADDON_ID]:
        problems.append(f"allowed_extensions is not [{ADDON_ID!r}]")
    launcher = manifest.get("path")
    if not isinstance(launcher, str) or not Path(launcher).is_absolute():
        problems.append("path is not an absolute path")
        launcher = None
    if problems:
        return Check(
            "manifest valid", "fail", "; ".join(problems), "run `pixelwarden install` again"
        ), None
    return Check("manifest valid", "ok", f"name {HOST_NAME}, add-on {ADDON_ID}"), Path(launcher)  # type: ignore[arg-type]


def check_launcher(path: Path) -> Check:
    if not path.is_file():
        return Check("launcher exists", "fail", f"{path} is missing", "run `pixelwarden install`")
    if platform_name() != "win32" and not os.access(path, os.X_OK):
        return Check("launcher exists", "fail", f"{path} is not executable", f"chmod +x {path}")
    return Check("launcher exists", "ok", str(path))


def handshake(launcher: Path, manifest: Path, timeout: float = HANDSHAKE_TIMEOUT) -> Check:
    """Start the host as Thunderbird does and ask it ``hello``."""
    request = json.dumps(
        {"id": "doctor", "type": "hello", "addon_version": f"doctor-{__version__}"}
    ).encode("utf-8")
    command = [str(launcher), str(manifest), ADDON_ID]
    if platform_name() == "win32":  # pragma: no cover - a .bat needs the command interpreter
        command = ["cmd.exe", "/d", "/c", *command]
    try:
        result = subprocess.run(
            command,
            input=HEADER.pack(len(request)) + request,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(
            "handshake",
            "fail",
            f"the launcher did not answer: {exc}",
            "run the launcher by hand to see its error; reinstall with `pixelwarden install`",
        )
    out = result.stdout
    if len(out) < 4:
        error = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return Check(
            "handshake",
            "fail",
            f"no reply (exit status {result.returncode}): {error[-1] if error else 'no output'}",
            "the launcher's Python may have lost Pixel Warden: reinstall, then "
            "`pixelwarden install`",
        )
    (length,) = struct.unpack("=I", out[:4])
    try:
        reply = json.loads(out[4 : 4 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Check("handshake", "fail", "the reply is not a JSON frame", "something else "
                     "writes to the host's standard output; check the launcher")  # fmt: skip
    if not (isinstance(reply, dict) and reply.get("ok") is True and reply.get("protocol") == 1):
        return Check("handshake", "fail", f"unexpected reply {str(reply)[:200]}", "see host.log")
    if len(out) != 4 + length:
        return Check(
            "handshake", "fail", "extra bytes after the reply on stdout", "check the launcher"
        )
    version = reply.get("host_version")
    if version != __version__:
        return Check(
            "handshake",
            "warn",
            f"the host answers as version {version}, this command is {__version__}",
            "run `pixelwarden install` from the Pixel Warden you want Thunderbird to use",
        )
    detail = f"host {version}, protocol 1"
    warnings = reply.get("warnings") or []
    if warnings:
        return Check(
            "handshake", "warn", f"{detail}; host warnings: {'; '.join(warnings)}", "see host.log"
        )
    return Check("handshake", "ok", detail)


def check_settings() -> Check:
    """The settings file can be read (opened read-only: the doctor changes nothing)."""
    from .settings import FILE_NAME, data_dir

    path = data_dir() / FILE_NAME
    if not path.exists():
        return Check("settings readable", "ok", f"{path} (not created yet: defaults)")
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
            conn.execute("SELECT count(*) FROM settings").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check(
            "settings readable",
            "fail",
            f"{path}: {exc}",
            "the host will move it aside and start from defaults; "
            "`pixelwarden settings export` first if you can",
        )
    if not result or result[0] != "ok":
        return Check(
            "settings readable", "fail", f"{path}: {result}", "the host will move it aside"
        )
    return Check("settings readable", "ok", str(path))


def check_reader(env: Mapping[str, str]) -> Check:
    """Whether the engine reads HTML with its C reader (_native.c) or with lxml alone."""
    from .extract import lxml_requested, reader_kind

    if reader_kind() == "native":
        return Check("HTML reader", "ok", "native (C reader over lxml's libxml2)")
    if lxml_requested(env):
        return Check("HTML reader", "ok", "lxml (PIXELWARDEN_READER=lxml)")
    return Check(
        "HTML reader",
        "warn",
        "lxml only: the C reader is not built or does not match lxml's libxml2; large "
        "messages are read about 1.5x slower (same results)",
        "reinstall with a C compiler at hand (`make install`, or pip install --force-reinstall)",
    )


def run_checks(env: Mapping[str, str] | None = None, platform: str | None = None) -> list[Check]:
    env = os.environ if env is None else env
    platform = platform_name(platform)
    checks: list[Check] = []
    try:
        found, manifest = find_manifest(platform, env)
    except PixelWardenError as exc:
        return [Check("manifest found", "fail", exc.message, "set HOME")]
    checks.append(found)
    if manifest is not None:
        valid, launcher = check_manifest(manifest)
        checks.append(valid)
        if launcher is not None:
            exists = check_launcher(launcher)
            checks.append(exists)
            if exists.status == "ok":
                checks.append(handshake(launcher, manifest))
    checks.append(check_settings())
    checks.append(check_reader(env))
    if platform == "linux":
        for sandbox in detect_sandboxes(env):
            checks.append(
                Check(f"{sandbox.kind} Thunderbird", "warn", sandbox.evidence, sandbox.advice)
            )
    return checks


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("doctor", help="check the installation end to end")
    parser.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    for check in checks:
        print(check.render())
    failed = [c for c in checks if c.status == "fail"]
    print(f"\n{len(failed)} problem(s) found." if failed else "\nAll checks passed.")
    sys.stdout.flush()
    return 1 if failed else 0
