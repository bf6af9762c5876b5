"""Screenshots under Xvfb (xwd, then ImageMagick's convert)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tbprofile import WINDOW_SIZE


def screenshot(display: str | None, target: Path) -> bool:
    if display is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    xwd = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display],
        check=False,
        capture_output=True,
        timeout=30,
    )
    if xwd.returncode != 0:
        print(f"e2e: xwd failed: {xwd.stderr.decode(errors='replace')}", flush=True)
        return False
    convert = subprocess.run(
        ["convert", "xwd:-", "-strip", f"png:{target}"],
        check=False,
        input=xwd.stdout,
        capture_output=True,
    )
    return convert.returncode == 0 and target.exists()


class Xvfb:
    """A virtual screen on a display number Xvfb picks itself (-displayfd): the X sockets live
    in the shared /tmp, so a fixed number would collide with another run on the same machine."""

    def __init__(self) -> None:
        width, height = WINDOW_SIZE
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24"]
            + ["-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        number = b""
        with os.fdopen(read_end, "rb") as pipe:
            while not number.endswith(b"\n"):
                chunk = pipe.read(1)
                if not chunk:
                    break
                number += chunk
        self.display = f":{number.decode().strip()}" if number.strip() else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
