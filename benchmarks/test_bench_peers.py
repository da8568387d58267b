"""The same guests under Qiling, for the figures issues #2 and #3 compare against.

Qiling (1.4.6) is not a dependency: install it in a separate environment and
point ``COFFERSIM_QILING_PYTHON`` at that interpreter, e.g.::

    python3 -m venv /tmp/ql && /tmp/ql/bin/pip install qiling==1.4.6 unicorn==2.1.4
    COFFERSIM_QILING_PYTHON=/tmp/ql/bin/python python -m pytest benchmarks -k peers

Both sides are timed on the wall clock (Qiling serves fork with a real host
fork, so the parent's CPU time would miss the children's work), as the
difference between a large and a small run, so start-up is excluded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.conftest import report
from benchmarks.test_bench_process import SPAWNER
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.workloads import build
from tests.rootfs import BUSYBOX

QILING_PYTHON = os.environ.get("COFFERSIM_QILING_PYTHON")
RUNNER = Path(__file__).parent / "peers" / "qiling_run.py"
pytestmark = pytest.mark.skipif(not QILING_PYTHON, reason="COFFERSIM_QILING_PYTHON not set")


def _qiling_seconds(rootfs: Path, program: Path, *args: str) -> float:
    out = subprocess.run([str(QILING_PYTHON), str(RUNNER), str(rootfs), str(program), *args],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    return float(out.split("seconds")[-1])


def _coffer_seconds(program: Path, *args: str, **config: object) -> float:
    import io

    coffer = Coffer(CofferConfig(**config), stdin=io.BytesIO(),  # type: ignore[arg-type]
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(str(program), [str(program), *args])
    started = time.perf_counter()
    coffer.run()
    return time.perf_counter() - started


def test_getppid_against_qiling(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    program = root / "nullsys"
    shutil.copy(build("nullsys"), program)
    small, large = 2_000, 42_000
    _coffer_seconds(program, str(small))  # warm: compiled hook, block costs
    ours = -(_coffer_seconds(program, str(small))
             - _coffer_seconds(program, str(large))) / (large - small)
    ql = -(_qiling_seconds(root, program, str(small))
           - _qiling_seconds(root, program, str(large))) / (large - small)
    report(f"getppid wall time per call: coffer {ours * 1e6:.2f} us, Qiling {ql * 1e6:.1f} us "
           f"-> {ql / ours:.0f}x")


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
def test_fork_exec_wait_against_qiling(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "true")
    source, program = tmp_path / "spawner.c", root / "bin" / "spawner"
    source.write_text(SPAWNER)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(program), str(source)], check=True)
    small, large = 5, 25
    ql = (_qiling_seconds(root, program, str(large))
          - _qiling_seconds(root, program, str(small))) / (large - small)
    config = {"rootfs": str(root)}
    _coffer_seconds(program, str(small), **config)
    ours = -(_coffer_seconds(program, str(small), **config)
             - _coffer_seconds(program, str(large), **config)) / (large - small)
    report(f"fork+exec+wait wall time: coffer {ours * 1e3:.1f} ms, Qiling {ql * 1e3:.1f} ms "
           f"(Qiling forks the host process)")
