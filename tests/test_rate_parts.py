"""benchmarks/rate_parts.py: the split of the timed rate's host time is measured, and undone."""

from __future__ import annotations

import io

import pytest

from benchmarks import rate_parts
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.cpu import Cpu
from cofferos.workloads import build


def test_the_traps_are_timed_inside_and_restored_after() -> None:
    originals = [getattr(Cpu, name) for name in rate_parts.TRAP_HANDLERS]
    spent = [0.0]
    with rate_parts.timed_traps(spent):
        coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                        stderr=io.BytesIO())
        hello = str(build("hello"))
        coffer.spawn(hello, [hello])
        assert coffer.run().exit_code == 0
    assert [getattr(Cpu, name) for name in rate_parts.TRAP_HANDLERS] == originals
    assert spent[0] > 0  # (its start-up calls and its writes)


def test_a_line_splits_the_rate_run() -> None:
    line = rate_parts.rate_parts(str(build("metadata")), 1)
    assert "in the kernel's traps" in line and "with a kernel that took no time" in line


@pytest.mark.parametrize("argv", [["x"], ["0"], ["200", "-5"]])
def test_bad_iterations_are_refused_with_usage(argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert rate_parts.main(argv) == 2
    assert "rate_parts" in capsys.readouterr().err
