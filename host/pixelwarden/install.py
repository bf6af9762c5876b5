"""`pixelwarden install` / `uninstall`: the native-messaging host manifest and its launcher.

Where Thunderbird looks (see ../shared/docs/thunderbird-notes.md, checked with strace on Linux),
per user (default) and machine-wide (``--system``):

- Linux: ``~/.mozilla/native-messaging-hosts/pixelwarden.json``, then
  ``/usr/lib/mozilla/native-messaging-hosts/pixelwarden.json``;
- macOS: ``~/Library/Application Support/Mozilla/NativeMessagingHosts/pixelwarden.json``, then
  ``/Library/Application Support/Mozilla/NativeMessagingHosts/pixelwarden.json``;
- Windows: registry ``HKCU\\Software\\Mozilla\\NativeMessagingHosts\\pixelwarden``, then the same
  key under ``HKLM``.

On Windows the registry key's default value is the manifest's path, and the manifest's ``path`` is
a ``.bat`` launcher (Thunderbird cannot run ``python -m`` itself). Everywhere the launcher runs the
Python that ran the installation (the current virtual environment), so the host always uses the
code that was installed with it.

Everything is first computed as an `InstallPlan` (plain data: files, their contents, the registry
entry), which is what the tests check for every platform; `apply_plan` / `remove_plan` carry it out,
touching the registry only on Windows. Paths under the home folder come from the ``HOME``
environment variable (``LOCALAPPDATA`` on Windows), never from the password database, so an
installation into a temporary HOME really lands there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from . import __version__
from .model import PixelWardenError

HOST_NAME = "pixelwarden"
ADDON_ID = "pixelwarden@pixelwarden.org"
MANIFEST_FILE = f"{HOST_NAME}.json"
REGISTRY_KEY = rf"Software\Mozilla\NativeMessagingHosts\{HOST_NAME}"

TEMPLATE_MANIFEST = "pixelwarden.json.in"
TEMPLATE_SH = "pixelwarden-host.sh.in"
TEMPLATE_BAT = "pixelwarden-host.bat.in"


def platform_name(value: str | None = None) -> str:
    """ "linux", "darwin" or "win32" (other Unixes are treated like Linux)."""
    value = value or sys.platform
    if value.startswith("win"):
        return "win32"
    if value == "darwin":
        return "darwin"
    return "linux"


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One registry value: ``root\\key``, value ``name`` ("" = the key's default value)."""

    root: str  # "HKEY_CURRENT_USER" or "HKEY_LOCAL_MACHINE"
    key: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class InstallPlan:
    platform: str
    system: bool
    manifest_path: PurePath
    manifest_text: str
    launcher_path: PurePath
    launcher_text: str
    registry: RegistryEntry | None = None

    @property
    def manifest(self) -> dict[str, object]:
        value: dict[str, object] = json.loads(self.manifest_text)
        return value

    def describe(self) -> list[str]:
        lines = [f"manifest  {self.manifest_path}", f"launcher  {self.launcher_path}"]
        if self.registry is not None:
            lines.append(
                f"registry  {self.registry.root}\\{self.registry.key} "
                f"(default value) = {self.registry.value}"
            )
        return lines


# ---------------------------------------------------------------------------------------------
# Templates


def template_dir() -> Path:
    """The folder of the manifest and launcher templates (``manifest/`` of the source tree)."""
    override = os.environ.get("PIXELWARDEN_MANIFEST_DIR")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve().parent
    candidates += [here.parent.parent / "manifest", here / "data" / "manifest"]
    for folder in candidates:
        if (folder / TEMPLATE_MANIFEST).is_file():
            return folder
    raise PixelWardenError(
        "templates_missing",
        "the host manifest templates were not found (expected manifest/ next to host/, "
        "or set PIXELWARDEN_MANIFEST_DIR)",
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    if "@" in template.replace(ADDON_ID, ""):
        leftover = [part for part in template.split("@")[1::2] if part.isupper()]
        if leftover:
            raise PixelWardenError("templates_invalid", f"unfilled placeholders: {leftover}")
    return template


def render_manifest(launcher: PurePath, addon_id: str = ADDON_ID) -> str:
    text = (template_dir() / TEMPLATE_MANIFEST).read_text(encoding="utf-8")
    # Filled as JSON string contents: a Windows path's backslashes must be escaped.
    filled = _fill(
        text,
        {
            "PATH": json.dumps(str(launcher))[1:-1],
            "EXTENSION_ID": json.dumps(addon_id)[1:-1],
            "VERSION": __version__,
        },
    )
    manifest = json.loads(filled)  # the result must be valid JSON, whatever the path holds
    if manifest.get("name") != HOST_NAME or manifest.get("allowed_extensions") != [addon_id]:
        raise PixelWardenError("templates_invalid", "manifest template has the wrong name or ids")
    return filled


def render_launcher(platform: str, python: str) -> str:
    if platform == "win32":
        text = (template_dir() / TEMPLATE_BAT).read_bytes().decode("utf-8")
        # In a batch file "%" starts a variable: a literal one is written "%%".
        return _fill(text, {"PYTHON": python.replace("%", "%%"), "VERSION": __version__})
    text = (template_dir() / TEMPLATE_SH).read_text(encoding="utf-8")
    return _fill(text, {"PYTHON": shlex.quote(python), "VERSION": __version__})


# ---------------------------------------------------------------------------------------------
# Where things go


def _home(env: Mapping[str, str]) -> PurePosixPath:
    home = env.get("HOME")
    if not home:
        raise PixelWardenError("no_home", "HOME is not set: cannot find the per-user folders")
    return PurePosixPath(home)


def _windows_folder(system: bool, env: Mapping[str, str], root: PurePath | None) -> PureWindowsPath:
    variable = "PROGRAMDATA" if system else "LOCALAPPDATA"
    base = env.get(variable) or (r"C:\ProgramData" if system else None)
    if not base:
        raise PixelWardenError("no_home", f"{variable} is not set")
    folder = PureWindowsPath(base)
    if root is not None:  # tests: the same folder below another drive or directory
        folder = PureWindowsPath(str(root), *folder.parts[1:])
    return folder / "pixelwarden"


def manifest_locations(
    platform: str, env: Mapping[str, str], root: PurePath | None = None
) -> list[tuple[str, PurePath]]:
    """Where the manifest lives, per scope, in the order Thunderbird looks: [(scope, path)].

    On Windows Thunderbird finds it through the registry (`registry_locations`); these are the
    places `install` writes it to.
    """
    if platform == "win32":
        return [
            (scope, _windows_folder(scope == "system", env, root) / MANIFEST_FILE)
            for scope in ("user", "system")
        ]
    top = PurePosixPath(str(root)) if root is not None else PurePosixPath("/")
    home = _home(env)
    if platform == "darwin":
        hosts = "Library/Application Support/Mozilla/NativeMessagingHosts"
        return [("user", home / hosts / MANIFEST_FILE), ("system", top / hosts / MANIFEST_FILE)]
    return [
        ("user", home / ".mozilla/native-messaging-hosts" / MANIFEST_FILE),
        ("system", top / "usr/lib/mozilla/native-messaging-hosts" / MANIFEST_FILE),
    ]


def registry_locations() -> list[tuple[str, str, str]]:
    """(scope, root, key) in the order Thunderbird reads them on Windows."""
    return [
        ("user", "HKEY_CURRENT_USER", REGISTRY_KEY),
        ("system", "HKEY_LOCAL_MACHINE", REGISTRY_KEY),
    ]


def launcher_location(
    platform: str, system: bool, env: Mapping[str, str], root: PurePath | None = None
) -> PurePath:
    """Where the launcher goes: Pixel Warden's own folder in the user's (or machine's) data."""
    if platform == "win32":
        return _windows_folder(system, env, root) / "pixelwarden-host.bat"
    top = PurePosixPath(str(root)) if root is not None else PurePosixPath("/")
    if platform == "darwin":
        base = (top if system else _home(env)) / "Library/Application Support"
    elif system:
        base = top / "usr/local/lib"
    else:
        base = PurePosixPath(env.get("XDG_DATA_HOME") or _home(env) / ".local/share")
    return base / "pixelwarden" / "pixelwarden-host"


def plan(
    platform: str | None = None,
    system: bool = False,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    root: PurePath | None = None,
) -> InstallPlan:
    """What an installation writes, for ``platform`` ("linux", "darwin", "win32").

    ``root`` replaces "/" (or the drive on Windows) for the machine-wide folders, for tests.
    """
    platform = platform_name(platform)
    env = os.environ if env is None else env
    scope = "system" if system else "user"
    manifest_path = dict(manifest_locations(platform, env, root))[scope]
    launcher_path = launcher_location(platform, system, env, root)
    registry = None
    if platform == "win32":
        hive = "HKEY_LOCAL_MACHINE" if system else "HKEY_CURRENT_USER"
        registry = RegistryEntry(hive, REGISTRY_KEY, "", str(manifest_path))
    return InstallPlan(
        platform=platform,
        system=system,
        manifest_path=manifest_path,
        manifest_text=render_manifest(launcher_path),
        launcher_path=launcher_path,
        launcher_text=render_launcher(platform, python or sys.executable),
        registry=registry,
    )


# ---------------------------------------------------------------------------------------------
# Carrying a plan out


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def apply_plan(plan_: InstallPlan) -> list[str]:
    """Write the launcher, the manifest and (Windows) the registry value; what was done."""
    if plan_.platform != platform_name() and plan_.registry is not None:
        raise PixelWardenError("wrong_platform", "a Windows plan can only be applied on Windows")
    launcher, manifest = Path(plan_.launcher_path), Path(plan_.manifest_path)
    try:
        _write(launcher, plan_.launcher_text, 0o755)
        _write(manifest, plan_.manifest_text, 0o644)
    except PermissionError as exc:
        hint = " (try again with sudo)" if plan_.system else ""
        raise PixelWardenError("permission_denied", f"cannot write {exc.filename}{hint}") from exc
    done = [f"wrote {launcher}", f"wrote {manifest}"]
    if plan_.registry is not None:  # pragma: no cover - Windows only
        _set_registry(plan_.registry)
        done.append(f"set {plan_.registry.root}\\{plan_.registry.key} = {plan_.registry.value}")
    return done


def remove_plan(plan_: InstallPlan) -> list[str]:
    """Remove what `apply_plan` wrote; what was removed (nothing there is not an error)."""
    done = []
    for path in (Path(plan_.manifest_path), Path(plan_.launcher_path)):
        try:
            path.unlink()
            done.append(f"removed {path}")
        except FileNotFoundError:
            continue
        except PermissionError as exc:
            hint = " (try again with sudo)" if plan_.system else ""
            raise PixelWardenError("permission_denied", f"cannot remove {path}{hint}") from exc
    folder = Path(plan_.launcher_path).parent
    if folder.name == "pixelwarden" and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if (
        plan_.registry is not None
        and platform_name() == "win32"
        and _delete_registry(plan_.registry)
    ):
        done.append(f"deleted {plan_.registry.root}\\{plan_.registry.key}")
    return done


def _set_registry(entry: RegistryEntry) -> None:  # pragma: no cover - Windows only
    winreg: Any = importlib.import_module("winreg")

    root = getattr(winreg, entry.root)
    with winreg.CreateKeyEx(root, entry.key, 0, winreg.KEY_SET_VALUE) as key:
        winreg.SetValueEx(key, entry.name, 0, winreg.REG_SZ, entry.value)


def _delete_registry(entry: RegistryEntry) -> bool:  # pragma: no cover - Windows only
    winreg: Any = importlib.import_module("winreg")

    try:
        winreg.DeleteKey(getattr(winreg, entry.root), entry.key)
    except FileNotFoundError:
        return False
    return True


def read_registry(root: str, key: str) -> str | None:  # pragma: no cover - Windows only
    winreg: Any = importlib.import_module("winreg")

    try:
        with winreg.OpenKey(getattr(winreg, root), key) as handle:
            value, _ = winreg.QueryValueEx(handle, "")
    except OSError:
        return None
    return str(value)


# ---------------------------------------------------------------------------------------------
# Sandboxed Thunderbirds


@dataclass(frozen=True, slots=True)
class Sandbox:
    kind: str  # "snap" or "flatpak"
    evidence: str
    advice: str


SNAP_ADVICE = (
    "Thunderbird from Snap runs confined and cannot start a native messaging host installed "
    "outside its sandbox, so Pixel Warden's add-on will report the host as missing (and load "
    "nothing extra). Use Thunderbird from your distribution's packages (deb/rpm) or the "
    "thunderbird.net tarball, then run `pixelwarden install` again."
)
FLATPAK_ADVICE = (
    "Thunderbird from Flatpak reads host manifests from "
    "~/.var/app/org.mozilla.Thunderbird/.mozilla/native-messaging-hosts/ and cannot run programs "
    "outside its sandbox unless allowed to (`flatpak override --user "
    "--talk-name=org.freedesktop.Flatpak org.mozilla.Thunderbird` and a launcher that starts the "
    "host with `flatpak-spawn --host`). The simplest fix: use Thunderbird from your distribution's "
    "packages or the thunderbird.net tarball, then run `pixelwarden install` again."
)


def detect_sandboxes(
    env: Mapping[str, str] | None = None,
    root: Path = Path("/"),
    run_flatpak: bool = True,
) -> list[Sandbox]:
    """Snap or Flatpak Thunderbirds on this machine (Linux)."""
    env = os.environ if env is None else env
    home = Path(env["HOME"]) if env.get("HOME") else None
    found: list[Sandbox] = []
    snap_signs = []
    if (root / "snap/bin/thunderbird").exists():
        snap_signs.append(str(root / "snap/bin/thunderbird"))
    if env.get("SNAP") or env.get("SNAP_NAME"):
        snap_signs.append("running inside a snap (SNAP is set)")
    if home is not None and (home / "snap/thunderbird").is_dir():
        snap_signs.append(str(home / "snap/thunderbird"))
    if snap_signs:
        found.append(Sandbox("snap", ", ".join(snap_signs), SNAP_ADVICE))
    flatpak_signs = []
    if home is not None and (home / ".var/app/org.mozilla.Thunderbird").is_dir():
        flatpak_signs.append(str(home / ".var/app/org.mozilla.Thunderbird"))
    if run_flatpak and shutil.which("flatpak"):
        try:
            result = subprocess.run(
                ["flatpak", "info", "org.mozilla.Thunderbird"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if result.returncode == 0:
                flatpak_signs.append("`flatpak info org.mozilla.Thunderbird`")
        except (OSError, subprocess.TimeoutExpired):
            pass
    if flatpak_signs:
        found.append(Sandbox("flatpak", ", ".join(flatpak_signs), FLATPAK_ADVICE))
    return found


# ---------------------------------------------------------------------------------------------
# Command line


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, func, summary in (
        ("install", _cmd_install, "register the native host with Thunderbird"),
        ("uninstall", _cmd_uninstall, "remove the native host registration"),
    ):
        parser = subparsers.add_parser(name, help=summary)
        parser.add_argument(
            "--system",
            action="store_true",
            help="machine-wide folders (needs administrator rights)",
        )
        parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        parser.set_defaults(func=func)


def _cmd_install(args: argparse.Namespace) -> int:
    the_plan = plan(system=args.system)
    if args.dry_run:
        print("\n".join(the_plan.describe()))
        print(the_plan.manifest_text)
        return 0
    for line in apply_plan(the_plan):
        print(line)
    print(f"Pixel Warden {__version__}: native host registered for add-on {ADDON_ID}.")
    if the_plan.platform == "darwin" and not the_plan.system:
        print(
            "On macOS some Thunderbird builds only read the machine-wide folder: if the add-on "
            "reports the host as missing, run `sudo pixelwarden install --system`."
        )
    if the_plan.platform == "linux":
        for sandbox in detect_sandboxes():
            print(f"\nWarning: a {sandbox.kind} Thunderbird was found ({sandbox.evidence}).")
            print(sandbox.advice)
    print("Check the installation with `pixelwarden doctor`.")
    return 0


def _cmd_uninstall(args: argparse.Namespace) -> int:
    the_plan = plan(system=args.system)
    if args.dry_run:
        print("\n".join(the_plan.describe()))
        return 0
    done = remove_plan(the_plan)
    print("\n".join(done) if done else "nothing to remove")
    return 0
