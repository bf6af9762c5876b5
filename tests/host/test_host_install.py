"""install.py and doctor.py: manifests and launchers in a temporary HOME, Windows plan as data."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest
from hostpipe import REPO, frame, make_host_env, parse_frames
from pixelwarden import __version__
from pixelwarden.doctor import run_checks
from pixelwarden.install import (
    ADDON_ID,
    REGISTRY_KEY,
    apply_plan,
    detect_sandboxes,
    plan,
    remove_plan,
    render_launcher,
)
from pixelwarden.model import PixelWardenError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def check_manifest(path: Path, launcher: Path) -> None:
    manifest = json.loads(path.read_text())
    assert manifest["name"] == "pixelwarden"
    assert manifest["type"] == "stdio"
    assert manifest["path"] == str(launcher)
    assert manifest["allowed_extensions"] == [ADDON_ID]
    assert __version__ in manifest["description"]


def test_linux_user_install_and_uninstall(home: Path) -> None:
    the_plan = plan("linux", env={"HOME": str(home)})
    manifest = home / ".mozilla/native-messaging-hosts/pixelwarden.json"
    launcher = home / ".local/share/pixelwarden/pixelwarden-host"
    assert (Path(the_plan.manifest_path), Path(the_plan.launcher_path)) == (
        manifest,
        launcher,
    )
    assert the_plan.registry is None
    apply_plan(the_plan)
    check_manifest(manifest, launcher)
    assert launcher.stat().st_mode & stat.S_IXUSR
    exec_line = launcher.read_text().splitlines()[-1]
    assert shlex.split(exec_line) == [
        "exec", sys.executable, "-P", "-m", "pixelwarden.cli", "host", "$@"
    ]  # fmt: skip
    apply_plan(the_plan)  # installing twice is fine
    removed = remove_plan(the_plan)
    assert len(removed) == 2
    assert not manifest.exists() and not launcher.exists()
    assert not launcher.parent.exists()  # our own empty folder goes too
    assert remove_plan(the_plan) == []  # uninstalling twice is fine


def test_linux_xdg_data_home_is_respected(home: Path, tmp_path: Path) -> None:
    the_plan = plan("linux", env={"HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert Path(the_plan.launcher_path) == tmp_path / "xdg/pixelwarden/pixelwarden-host"


def test_macos_user_install_and_uninstall(home: Path) -> None:
    the_plan = plan("darwin", env={"HOME": str(home)})
    hosts = home / "Library/Application Support/Mozilla/NativeMessagingHosts"
    launcher = home / "Library/Application Support/pixelwarden/pixelwarden-host"
    assert Path(the_plan.manifest_path) == hosts / "pixelwarden.json"
    apply_plan(the_plan)
    check_manifest(hosts / "pixelwarden.json", launcher)
    assert os.access(launcher, os.X_OK)
    remove_plan(the_plan)
    assert not (hosts / "pixelwarden.json").exists() and not launcher.exists()


@pytest.mark.parametrize(
    "platform, manifest, launcher",
    [
        (
            "linux",
            "usr/lib/mozilla/native-messaging-hosts/pixelwarden.json",
            "usr/local/lib/pixelwarden/pixelwarden-host",
        ),
        (
            "darwin",
            "Library/Application Support/Mozilla/NativeMessagingHosts/pixelwarden.json",
            "Library/Application Support/pixelwarden/pixelwarden-host",
        ),
    ],
)
def test_system_install(
    home: Path, tmp_path: Path, platform: str, manifest: str, launcher: str
) -> None:
    root = tmp_path / "root"
    the_plan = plan(platform, system=True, env={"HOME": str(home)}, root=root)
    assert Path(the_plan.manifest_path) == root / manifest
    assert Path(the_plan.launcher_path) == root / launcher
    apply_plan(the_plan)
    check_manifest(root / manifest, root / launcher)
    remove_plan(the_plan)
    assert not (root / manifest).exists()


def test_windows_plan_as_data() -> None:
    env = {
        "LOCALAPPDATA": r"C:\Users\Ann\AppData\Local",
        "PROGRAMDATA": r"D:\ProgramData",
    }
    python = r"C:\Program Files\Python 3.12\python.exe"
    user = plan("win32", env=env, python=python)
    folder = PureWindowsPath(r"C:\Users\Ann\AppData\Local\pixelwarden")
    assert user.manifest_path == folder / "pixelwarden.json"
    assert user.launcher_path == folder / "pixelwarden-host.bat"
    assert user.registry is not None
    assert user.registry.root == "HKEY_CURRENT_USER"
    assert user.registry.key == r"Software\Mozilla\NativeMessagingHosts\pixelwarden" == REGISTRY_KEY
    assert user.registry.name == ""  # the key's default value ...
    assert user.registry.value == str(folder / "pixelwarden.json")  # ... is the manifest's path
    # The manifest names the .bat launcher; backslashes survive as JSON escapes.
    assert user.manifest["path"] == str(folder / "pixelwarden-host.bat")
    assert user.manifest["allowed_extensions"] == [ADDON_ID]
    assert "\\\\pixelwarden-host.bat" in user.manifest_text
    # The launcher: CRLF lines, the interpreter quoted, every argument passed on.
    lines = user.launcher_text.split("\r\n")
    assert lines[0] == "@echo off"
    assert lines[-2] == f'"{python}" -P -m pixelwarden.cli host %*'
    assert "\n" not in user.launcher_text.replace("\r\n", "")

    machine = plan("win32", system=True, env=env, python=python)
    assert machine.registry is not None
    assert machine.registry.root == "HKEY_LOCAL_MACHINE"
    assert machine.manifest_path == PureWindowsPath(r"D:\ProgramData\pixelwarden\pixelwarden.json")
    assert machine.registry.value == str(machine.manifest_path)


def test_windows_percent_signs_are_escaped_in_the_batch_file() -> None:
    text = render_launcher("win32", r"C:\100%\python.exe")
    assert '"C:\\100%%\\python.exe"' in text


def test_windows_plan_is_not_applied_elsewhere() -> None:
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("this is Windows")
    the_plan = plan("win32", env={"LOCALAPPDATA": r"C:\x"})
    with pytest.raises(PixelWardenError) as caught:
        apply_plan(the_plan)
    assert caught.value.code == "wrong_platform"


def test_odd_interpreter_paths_are_quoted_for_the_shell() -> None:
    python = "/opt/my tools/py'thon $HOME/bin/python3"
    text = render_launcher("linux", python)
    assert shlex.split(text.splitlines()[-1])[1] == python


def test_no_home_is_a_clear_error() -> None:
    with pytest.raises(PixelWardenError) as caught:
        plan("linux", env={})
    assert caught.value.code == "no_home"


def test_installed_launcher_answers_a_handshake(tmp_path: Path) -> None:
    env = make_host_env(tmp_path)
    the_plan = plan("linux", env={"HOME": env["HOME"]})
    apply_plan(the_plan)
    request = frame({"id": 1, "type": "hello", "addon_version": "test"})
    result = subprocess.run(
        [str(the_plan.launcher_path), str(the_plan.manifest_path), ADDON_ID],
        input=request,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (reply,) = parse_frames(result.stdout)
    assert reply["ok"] and reply["host_version"] == __version__


# --- Sandboxed Thunderbirds --------------------------------------------------------------------


def test_no_sandbox_on_a_plain_home(home: Path, tmp_path: Path) -> None:
    assert detect_sandboxes({"HOME": str(home)}, root=tmp_path, run_flatpak=False) == []


def test_snap_thunderbird_is_detected(home: Path, tmp_path: Path) -> None:
    (home / "snap/thunderbird").mkdir(parents=True)
    (found,) = detect_sandboxes({"HOME": str(home)}, root=tmp_path, run_flatpak=False)
    assert found.kind == "snap" and "snap/thunderbird" in found.evidence
    (tmp_path / "snap/bin").mkdir(parents=True)
    (tmp_path / "snap/bin/thunderbird").touch()
    (found,) = detect_sandboxes({"HOME": str(tmp_path)}, root=tmp_path, run_flatpak=False)
    assert "snap/bin/thunderbird" in found.evidence
    (found,) = detect_sandboxes({"SNAP": "/snap/x"}, root=home, run_flatpak=False)
    assert found.kind == "snap"


def test_flatpak_thunderbird_is_detected(home: Path, tmp_path: Path) -> None:
    (home / ".var/app/org.mozilla.Thunderbird").mkdir(parents=True)
    (found,) = detect_sandboxes({"HOME": str(home)}, root=tmp_path, run_flatpak=False)
    assert found.kind == "flatpak"
    assert "native-messaging-hosts" in found.advice


def test_install_command_warns_about_a_snap(tmp_path: Path) -> None:
    env = make_host_env(tmp_path)
    (Path(env["HOME"]) / "snap/thunderbird").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "pixelwarden.cli", "install"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "snap Thunderbird was found" in result.stdout
    assert (Path(env["HOME"]) / ".mozilla/native-messaging-hosts/pixelwarden.json").is_file()


# --- doctor ------------------------------------------------------------------------------------


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelwarden.cli", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(
    Path("/usr/lib/mozilla/native-messaging-hosts/pixelwarden.json").exists(),
    reason="a system-wide Pixel Warden is installed on this machine",
)
def test_doctor_end_to_end(tmp_path: Path) -> None:
    env = make_host_env(tmp_path)
    before = doctor(env)
    assert before.returncode == 1
    assert "FAIL  manifest found" in before.stdout and "pixelwarden install" in before.stdout

    the_plan = plan("linux", env={"HOME": env["HOME"]})
    apply_plan(the_plan)
    after = doctor(env)
    assert after.returncode == 0, after.stdout + after.stderr
    for name in ("manifest found", "manifest valid", "launcher exists", "handshake"):
        assert f"ok    {name}" in after.stdout

    launcher = Path(the_plan.launcher_path)
    launcher.chmod(0o644)
    not_executable = doctor(env)
    assert not_executable.returncode == 1 and "is not executable" in not_executable.stdout
    launcher.chmod(0o755)

    launcher.write_text("#!/bin/sh\nexec /nonexistent/python -m pixelwarden.cli host\n")
    broken = doctor(env)
    assert broken.returncode == 1 and "FAIL  handshake" in broken.stdout

    manifest = Path(the_plan.manifest_path)
    data = json.loads(manifest.read_text())
    data["allowed_extensions"] = ["someone-else@example.org"]
    manifest.write_text(json.dumps(data))
    wrong_id = doctor(env)
    assert wrong_id.returncode == 1 and "allowed_extensions" in wrong_id.stdout


def test_doctor_reports_an_unreadable_settings_file(tmp_path: Path) -> None:
    env = make_host_env(tmp_path)
    settings_file = Path(env["PIXELWARDEN_DATA_DIR"]) / "settings.sqlite3"
    settings_file.write_bytes(b"not sqlite" * 500)
    old = dict(os.environ)
    try:
        os.environ.update(env)
        checks = {c.name: c for c in run_checks(env, "linux")}
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert checks["settings readable"].status == "fail"
    assert settings_file.read_bytes().startswith(b"not sqlite")  # the doctor changes nothing


def test_doctor_on_the_macos_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_host_env(tmp_path)
    for name, value in env.items():
        if name == "HOME" or name.startswith("PIXELWARDEN_"):
            monkeypatch.setenv(name, value)  # the handshake's host inherits them
    apply_plan(plan("darwin", env=env))
    checks = {c.name: c for c in run_checks(env, "darwin")}
    assert checks["manifest found"].status == "ok"
    assert (
        "Library/Application Support/Mozilla/NativeMessagingHosts"
        in checks["manifest found"].detail
    )
    assert checks["manifest valid"].status == "ok"
    assert checks["handshake"].status == "ok", checks["handshake"].detail
    assert checks["settings readable"].status == "ok"


def test_doctor_says_which_html_reader_the_engine_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelwarden import extract
    from pixelwarden.doctor import check_reader

    forced = os.environ.get("PIXELWARDEN_READER", "") == "lxml"
    assert check_reader(os.environ).status == "ok"
    assert ("lxml" if forced else "native") in check_reader(os.environ).detail
    # Not built, or built for another libxml2: a warning with the way out, results unchanged.
    monkeypatch.setattr(extract, "NATIVE", False)
    missing = check_reader({})
    assert missing.status == "warn" and "C compiler" in missing.hint
    assert check_reader({"PIXELWARDEN_READER": "lxml"}).status == "ok"
