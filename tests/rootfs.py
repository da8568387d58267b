"""Guest environments for process-model tests: a busybox root filesystem and its native twin.

A coffer that runs shell scripts needs a root filesystem: :func:`busybox_rootfs`
builds one in a host directory (imported copy-on-write by ``CofferConfig.rootfs``)
around Debian's static busybox::

    rootfs/
        bin/busybox         a copy of the host's /bin/busybox (busybox-static)
        bin/<applet>        -> busybox, for every applet of ``busybox --list`` (sh too)
        sbin, usr/bin, usr/sbin  -> bin (relative links, confined to the coffer)
        etc/passwd, etc/group    root and nobody
        tmp/                empty, sticky; the scripts' working directory
        root/, proc/        root's home, and the mount point a kernel's /proc covers

The native side of a comparison must run the *same* applets, not the host's GNU
tools: :func:`host_applet_dir` makes a directory of ``<applet> -> /bin/busybox``
links to put alone on PATH, and :func:`run_busybox_native` runs a script with it in
an empty working directory, as the coffer runs it in its empty /tmp.
:func:`run_busybox_in_coffer` is the coffer side. Both start the shell as
``/bin/sh -c SCRIPT`` (busybox picks the applet from argv[0]).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import NATIVE_TIMEOUT_S, Outcome, run_in_coffer

#: Debian's busybox-static.
BUSYBOX = Path("/bin/busybox")
#: argv[0] of every shell started here, in the coffer and natively.
SHELL_ARGV0 = "/bin/sh"
#: Where scripts run inside the coffer.
COFFER_CWD = "/tmp"
#: A guard against a guest that spins forever: SIGXCPU after this many instructions.
INSTRUCTION_LIMIT = 20_000_000_000

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
#: Directories that are links to bin/, as on a merged-/usr system.
BIN_ALIASES = ("sbin", "usr/bin", "usr/sbin")
STICKY_TMP_MODE = 0o1777


def require_busybox() -> None:
    """Skip the calling test where Debian's busybox-static is not installed."""
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static not installed (apt-get install busybox-static)")


@functools.cache
def busybox_applets() -> tuple[str, ...]:
    """The applets the host's busybox provides, from ``busybox --list``."""
    listing = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True, timeout=NATIVE_TIMEOUT_S).stdout
    return tuple(name for name in listing.split() if name and "/" not in name)


def busybox_rootfs(tmp_path: Path, name: str = "rootfs") -> Path:
    """Build a busybox root filesystem under ``tmp_path / name`` and return its path.

    Skips the test (or the fixture's users) where busybox is not installed."""
    require_busybox()
    root = tmp_path / name
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    for applet in busybox_applets():
        if applet != "busybox":
            (bin_dir / applet).symlink_to("busybox")
    (root / "usr").mkdir()
    for alias in BIN_ALIASES:
        link = root / alias
        link.symlink_to(os.path.relpath(bin_dir, link.parent))
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "hostname").write_text("coffer\n")
    for directory in ("tmp", "root", "proc"):
        (root / directory).mkdir()
    (root / "tmp").chmod(STICKY_TMP_MODE)
    return root


def install_program(root: Path, program: Path, name: str) -> Path:
    """Copy a host executable into the rootfs as ``/bin/<name>``; return the host copy's path."""
    target = root / "bin" / name
    shutil.copy2(program, target)
    return target


def host_applet_dir(tmp_path: Path, extra: dict[str, Path] | None = None) -> Path:
    """A host directory of ``<applet> -> /bin/busybox`` links (plus ``extra`` programs)."""
    require_busybox()
    applets = tmp_path / "native-bin"
    applets.mkdir()
    for applet in busybox_applets():
        (applets / applet).symlink_to(BUSYBOX)
    for name, program in (extra or {}).items():
        shutil.copy2(program, applets / name)
    return applets


def run_busybox_native(script: str, *, cwd: Path, applets: Path, args: Sequence[str] = (),
                       stdin: bytes = b"") -> Outcome:
    """``/bin/sh -c SCRIPT [args]`` with the host's busybox, only its applets on PATH."""
    env = {"PATH": str(applets), "HOME": "/root"}
    proc = subprocess.run([SHELL_ARGV0, "-c", script, *args], executable=str(BUSYBOX),
                          input=stdin, capture_output=True, cwd=cwd, env=env,
                          timeout=NATIVE_TIMEOUT_S)
    status = 128 - proc.returncode if proc.returncode < 0 else proc.returncode
    return Outcome(status, proc.stdout, proc.stderr)


def run_busybox_in_coffer(script: str, *, root: Path, args: Sequence[str] = (),
                          stdin: bytes = b"", **config: object) -> Outcome:
    """``/bin/sh -c SCRIPT [args]`` in a coffer whose root is ``root``, in /tmp."""
    config.setdefault("cwd", COFFER_CWD)
    config.setdefault("instruction_limit", INSTRUCTION_LIMIT)
    return run_in_coffer(root / "bin" / "busybox", ["-c", script, *args], stdin=stdin,
                         argv0=SHELL_ARGV0, rootfs=str(root), **config)


def static_library_available(library: str) -> bool:
    """Whether the C compiler finds ``lib<library>.a`` (gcc echoes the bare name if not)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return False
    name = f"lib{library}.a"
    found = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True,
                           timeout=NATIVE_TIMEOUT_S).stdout.strip()
    return found != name and Path(found).is_file()
