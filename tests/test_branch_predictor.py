"""The ``mca`` model's branch predictor: mispredicted conditional branches cost cycles.

llvm-mca prices a block as if every branch were predicted; the block counter's hook
runs a gshare predictor on the directions the guest really takes and charges
``MISPREDICT_CYCLES`` per wrong guess (isa/mca.py, isa/native/blockhook.c). The guest
``tests/uarch/branches.c`` branches on a coin toss (``random``: about half of the
guesses are wrong) or always the same way (``regular``: almost none are).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa import native
from cofferos.isa.layout import (
    COUNTER_TAKEN,
    CTL_BRANCH_END,
    CTL_HISTORY,
    CTL_PREDICTOR,
    PREDICTOR_MASK,
)
from cofferos.isa.mca import MISPREDICT_CYCLES, McaBlockCoster
from cofferos.workloads.build import build_source
from tests.support import needs, needs_gcc, run_in_coffer, run_native

GUEST = Path(__file__).parent / "uarch" / "branches.c"
CPU = "skylake"  #: a named core, so the figures do not depend on the host
BRANCHES = 20_000
needs_mca = needs("llvm-mca")


def _user_cycles(mode: str, penalty: int, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(McaBlockCoster, "mispredict_cycles", penalty)
    outcome = run_in_coffer(build_source(GUEST), (mode, str(BRANCHES)), cycle_model="mca",
                            mca_cpu=CPU)
    assert outcome.status == 0 and outcome.result is not None
    return outcome.result.user_cycles


def _mispredicts(mode: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """The predictor's misses: the cycles it adds over the blocks' own, per penalty."""
    extra = (_user_cycles(mode, MISPREDICT_CYCLES, monkeypatch)
             - _user_cycles(mode, 0, monkeypatch))
    assert extra % MISPREDICT_CYCLES == 0, "only whole mispredictions are charged"
    return extra // MISPREDICT_CYCLES


@needs_gcc
@needs_mca
def test_a_coin_toss_branch_is_mispredicted_about_half_the_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert 0.4 * BRANCHES < _mispredicts("random", monkeypatch) < 0.6 * BRANCHES + 1_000


@needs_gcc
@needs_mca
def test_a_branch_that_always_goes_one_way_is_learnt(monkeypatch: pytest.MonkeyPatch) -> None:
    # Start-up (libc's initialisation, printf) mispredicts a few hundred times.
    assert _mispredicts("regular", monkeypatch) < 0.05 * BRANCHES


@needs_gcc
@needs_mca
@pytest.mark.parametrize("mode", ["random", "regular"])
def test_the_guest_behaves_as_natively(mode: str) -> None:
    path = build_source(GUEST)
    native_run = run_native(path, (mode, str(BRANCHES)))
    coffer_run = run_in_coffer(path, (mode, str(BRANCHES)), cycle_model="mca", mca_cpu=CPU)
    assert (coffer_run.stdout, coffer_run.status) == (native_run.stdout, native_run.status)


@needs_gcc
def test_simple_predicts_nothing() -> None:
    """The table model marks no block, so no misprediction is ever charged."""
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    cpu, _mm = coffer.new_cpu()
    assert not cpu.coster.ends_with_branch(bytes.fromhex("75fe"))  # jne .
    assert cpu.counter.mispredicts == 0


@needs_gcc
@needs_mca
def test_a_reused_engine_starts_with_an_untrained_predictor() -> None:
    """An ended program's engine is wiped for the next one (the pool): what its predictor
    learnt must not cross over, or a run's cycles would depend on what ran before."""
    path = str(build_source(GUEST))
    coffer = Coffer(CofferConfig(cycle_model="mca", mca_cpu=CPU), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(path, [path, "random", str(BRANCHES)])
    coffer.run()
    cpu = coffer.engines.take(coffer.engine_kind)
    assert cpu is not None and cpu.counter.mispredicts > 0.4 * BRANCHES
    untrained = np.full(PREDICTOR_MASK + 1, COUNTER_TAKEN, dtype=np.uint8)
    counters = np.ctypeslib.as_array(
        ctypes.cast(int(cpu.counter.ctl[CTL_PREDICTOR]), ctypes.POINTER(ctypes.c_uint8)),
        shape=(PREDICTOR_MASK + 1,))
    assert np.array_equal(counters, untrained)
    assert cpu.counter.ctl[CTL_HISTORY] == cpu.counter.ctl[CTL_BRANCH_END] == 0


@needs_gcc
@needs_mca
def test_the_c_hook_and_the_numba_hook_predict_the_same() -> None:
    path = str(build_source(GUEST))
    cycles = []
    for hook in ("c", "numba"):
        done = subprocess.run(
            [sys.executable, "-m", "cofferos", "run", "--cycle-model", "mca", "--mca-cpu", CPU,
             "--stats", "-", "--", path, "random", str(BRANCHES)],
            capture_output=True, env={**os.environ, native.HOOK_ENV: hook}, check=True,
            cwd="/tmp")
        text = done.stdout.decode()
        record = json.loads(text[text.index("{\n"):])
        cycles.append((record["instructions"], record["user_cycles"]))
    assert cycles[0] == cycles[1]
