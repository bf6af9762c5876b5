"""Running the end-to-end harness in a private network namespace where only loopback exists.

Real mail in the corpus points at real trackers: inside the namespace there is no route anywhere,
so whatever Thunderbird, the host or the harness gets wrong, nothing leaves the machine. The
harness re-executes itself under ``unshare -n`` (root) or ``unshare -r -n`` (unprivileged user
namespace), then brings ``lo`` up itself (no dependency on iproute2).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys

_MARK = "PIXELWARDEN_E2E_NETNS"
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def inside() -> bool:
    return os.environ.get(_MARK) == str(os.getpid()) or os.environ.get(_MARK) == "1"


def reexec_isolated() -> None:
    """Replace this process with itself inside a new network namespace (does not return)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("e2e: `unshare` (util-linux) is needed to isolate the network")
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    probe = subprocess.run([unshare, *flags, "true"], check=False, capture_output=True, text=True)
    if probe.returncode != 0:
        # Never fall back to running without isolation: real mail would reach real trackers.
        sys.exit(
            f"e2e: cannot create a private network namespace ({' '.join(['unshare', *flags])}: "
            f"{probe.stderr.strip()}). Run as root, or allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1), or give the container CAP_SYS_ADMIN."
        )
    os.environ[_MARK] = "1"
    os.execv(unshare, [unshare, *flags, "--", sys.executable, *sys.argv])


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def only_loopback() -> bool:
    """True when the only network interface is ``lo`` (the proof the isolation took)."""
    names = [name for _, name in socket.if_nameindex()]
    return names == ["lo"]
