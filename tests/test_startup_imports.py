"""What ``coffersim run`` of a static guest loads at start-up (issue #17): nothing that
only another command or cycle model needs. Each import or thread guarded here was a
measured part of the start-up (benchmarks/test_bench_startup.py); these tests keep
them off the path, where a stray top-level import would bring them back silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from cofferos.cli import BLAS_THREADS

#: The thread tests count OpenBLAS's threads: another BLAS would start none anyway.
needs_openblas = pytest.mark.skipif(
    "openblas" not in str(numpy.__config__.CONFIG["Build Dependencies"]["blas"]["name"]),
    reason="numpy is not built with OpenBLAS")

#: Imports the run of a plain static guest must not make: the llvm-mca cycle model
#: (with capstone), capstone (only to cost a block the block store lacks), numba
#: (the hooks are compiled C), the timed machine (SimPy), and numpy (60-90 ms: the
#: engine's word arrays are ctypes, isa/words.py; fork's page states import it).
NOT_ON_THE_RUN_PATH = ("cofferos.isa.mca", "capstone", "numba", "simpy", "cofferos.sim.machine",
                       "numpy")

#: A command that needs numpy (the timed machine, experiments, plots) imports it after
#: the CLI has set OpenBLAS's threads: ``then_numpy`` imports it once the run is done.
PROBE = """
import os, sys
from cofferos.cli import main
then_numpy, program, *names = sys.argv[1:]
code = main(["run", "--", program])
loaded = [name for name in names if name in sys.modules]
if then_numpy == "1":
    import numpy
print(code, len(os.listdir("/proc/self/task")), ",".join(loaded) or "-")
"""


def _probe(program: str, env: dict[str, str],
           then_numpy: bool = False) -> tuple[int, int, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(int(then_numpy)), program,
                           *NOT_ON_THE_RUN_PATH],
                          capture_output=True, text=True, check=True, cwd="/tmp", env=env)
    code, threads, loaded = done.stdout.splitlines()[-1].split()
    return int(code), int(threads), loaded


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != BLAS_THREADS[0]}
    env["COFFERSIM_CACHE"] = str(tmp_path / "cache")  # a block store of its own
    return env


def test_running_a_static_guest_imports_only_what_it_needs(clean_env: dict[str, str]) -> None:
    _probe("@hello", clean_env)  # the first run costs its blocks (capstone) and stores them
    code, _, loaded = _probe("@hello", clean_env)
    assert (code, loaded) == (0, "-")


def test_the_guard_sees_an_import_on_the_run_path(clean_env: dict[str, str]) -> None:
    """The probe can fail: a module the run imports is reported (``os`` stands for one)."""
    done = subprocess.run([sys.executable, "-c", PROBE, "0", "@hello", "os", "numpy"],
                          capture_output=True, text=True, check=True, cwd="/tmp",
                          env=clean_env)
    assert done.stdout.split()[-1] == "os"


@needs_openblas
def test_the_cli_keeps_numpys_blas_to_one_thread(clean_env: dict[str, str]) -> None:
    """OpenBLAS would start a thread per host core as numpy is imported; the run is
    single-threaded, so the process has exactly one thread when the guest is done."""
    code, threads, _ = _probe("@hello", clean_env, then_numpy=True)
    assert (code, threads) == (0, 1)


@needs_openblas
def test_a_blas_thread_count_the_user_set_is_kept(clean_env: dict[str, str]) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one host core: OpenBLAS starts no threads either way")
    code, threads, _ = _probe("@hello", {**clean_env, BLAS_THREADS[0]: "2"}, then_numpy=True)
    assert (code, threads) == (0, 2)
