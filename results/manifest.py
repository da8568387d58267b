"""Manifests: how a result was made (command, resolved configuration, code, host).

Every result directory (:mod:`cofferos.results.resultdir`: ``coffersim compare``,
``experiment`` and ``sweep``) has a ``manifest.json``: its ``kind``, the command,
the fully resolved configuration, the simulator's version, its git commit (when
run from a checkout) and the host, so that a figure in a paper can be traced to
the exact command, code and machine that produced it (gem5's
``m5out/config.json`` is the model).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cofferos.results.records import plain

GIT_TIMEOUT_S = 5
DISTRIBUTION = "cofferos-sim"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(SOURCE_ROOT), *args], capture_output=True,
                             text=True, timeout=GIT_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


#: What the simulator writes into its own checkout (results, generated docs and figures):
#: changes there do not make the code that produced a result differ from its commit.
GENERATED_PATHS = (":(exclude)results/isolation", ":(exclude)docs")


def source_revision() -> dict[str, Any]:
    """The simulator's version and, when it runs from a git checkout, commit and dirtiness
    (of the code: outputs the simulator writes, :data:`GENERATED_PATHS`, do not count)."""
    try:
        version: str | None = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = None
    commit = _git("rev-parse", "HEAD")
    status = (_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                   *GENERATED_PATHS) if commit else None)
    return {"version": version, "git_commit": commit,
            "git_dirty": bool(status) if status is not None else None}


def host() -> dict[str, Any]:
    """The machine the simulator ran on (host seconds mean nothing without it)."""
    return {"hostname": socket.gethostname(), "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0]}


def manifest(command: Sequence[str], configuration: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to redo a run: the command, its resolved configuration, code, host."""
    return {"command": list(command), "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **source_revision(), "host": host(), "configuration": plain(configuration)}

