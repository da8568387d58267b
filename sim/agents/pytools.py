"""The host's python3 in the agents' root filesystem, for scenarios whose tools run scripts.

A scenario with ``python3 = true`` (workloads/scenarios/analysis.toml) runs python3
scripts as shell tools (``python3 -S -c ...`` in the workspace, through busybox
``sh``). The agents' busybox tree then also holds the host's python3 as ``coffersim
run --rootfs /`` sees it: the interpreter at its own path, the shared libraries
``ldd`` names and the dynamic loader (the interpreter is dynamically linked; the
coffer's loader maps them as Linux's does), and the standard library less its test
suites and GUI packages (:data:`LEFT_OUT`). Each file is a hard link to the host's
(a copy across filesystems): the tree is imported copy-on-write, so nothing the
agents do reaches the host's files. Hosts without python3 cannot run such a
scenario: :func:`check` says so in one line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from cofferos.errors import ConfigError

PYTHON = "python3"
#: Standard-library parts no tool script needs: test suites, GUI, packaging, the
#: site's own packages (the scripts run with -S).
LEFT_OUT = ("test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
            "site-packages", "dist-packages", "pydoc_data")
#: ``ldd``'s lines: ``NAME => PATH (ADDRESS)``, or the loader's ``PATH (ADDRESS)``.
_LDD_LINE = re.compile(r"^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$")
LDD_TIMEOUT_S = 30


@cache
def host_python() -> tuple[Path, Path, tuple[Path, ...]] | None:
    """The host's python3: its interpreter (symlinks resolved), its standard library
    directory and the shared objects it loads; None when it has none."""
    found = shutil.which(PYTHON, path="/usr/bin:/bin")
    if found is None or shutil.which("ldd") is None:
        return None
    interpreter = Path(found).resolve()
    try:
        stdlib = subprocess.run(
            [str(interpreter), "-S", "-c", "import sysconfig; print(sysconfig.get_paths()"
             "['stdlib'])"], capture_output=True, text=True, check=True,
            timeout=LDD_TIMEOUT_S).stdout.strip()
        listed = subprocess.run(["ldd", str(interpreter)], capture_output=True, text=True,
                                check=True, timeout=LDD_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    libraries = tuple(Path(m.group(1)) for line in listed.splitlines()
                      if (m := _LDD_LINE.match(line)))
    return interpreter, Path(stdlib), libraries


def check() -> None:
    """A one-line ConfigError when the host has no python3 to give the agents."""
    if host_python() is None:
        raise ConfigError(f"this scenario's tools run {PYTHON} scripts, and this host has no "
                          f"/usr/bin/{PYTHON} (or no ldd)")


def _place(source: Path, root: Path) -> None:
    """``source`` (symlinks resolved) at its own path under ``root``: a hard link, or a
    copy where the two are on different filesystems."""
    target = root / str(source).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)


def add_python(root: Path) -> None:
    """Put the host's python3 into the agents' tree ``root`` (see the module docstring),
    with ``/usr/bin/python3`` naming it."""
    check()
    found = host_python()
    assert found is not None
    interpreter, stdlib, libraries = found
    for path in (interpreter, *libraries):
        _place(path, root)
    link = root / "usr" / "bin" / PYTHON
    if not link.exists():
        link.symlink_to(interpreter.name)

    def linked(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    shutil.copytree(stdlib, root / str(stdlib).lstrip("/"), symlinks=True,
                    ignore=shutil.ignore_patterns(*LEFT_OUT), copy_function=linked)
