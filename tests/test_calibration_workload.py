"""The calibration suite: the ``lmbench`` workload natively and in a coffer, and its parser.

The program's figures are timings, so nothing here asserts on their size: only
that every op ran and reported a figure the parser accepts (positive natively,
where real time always passes). What it prints in a coffer is simulated time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cofferos.errors import WorkloadError
from cofferos.workloads import GLIBC, MUSL, TOOLCHAINS, WORKLOADS, build, compilers_available
from cofferos.workloads.build import SOURCE_DIR
from cofferos.workloads.calibration import (
    CALIBRATION_OPS,
    LMBENCH_WORKLOAD,
    parse_lmbench_output,
)
from tests.support import run_in_coffer

RUN_TIMEOUT_S = 60
#: Iterations per op in the runs below: enough to exercise every loop, quick in a coffer.
NATIVE_ITERATIONS = 50
COFFER_ITERATIONS = 200
#: The published figures with their sources, kept in the repository's docs.
CALIBRATION_MD = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"
OP_NAMES = [op.name for op in CALIBRATION_OPS]


def _require(libc: str) -> None:
    compiler = TOOLCHAINS[libc].compiler
    if not compilers_available()[compiler]:
        pytest.skip(f"{compiler} is not installed")


def _run(libc: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build(LMBENCH_WORKLOAD, libc)), *args], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)


# --- the suite's description --------------------------------------------------------------


def test_ops_are_the_programs_ops_in_order() -> None:
    workload = WORKLOADS[LMBENCH_WORKLOAD]
    assert workload.libcs == (GLIBC, MUSL)
    source = (SOURCE_DIR / workload.source).read_text()
    table = re.findall(r'\{"(\w+)", bench_\1, \d+\}', source)
    assert table == OP_NAMES
    for op in CALIBRATION_OPS:
        assert op.reference_us > 0 and op.description and op.source
    assert {op.name: op.reference_us for op in CALIBRATION_OPS} == {
        "null": 0.23, "read": 0.68, "mmap": 0.79, "pagefault": 0.85,
        "pipe": 2.7, "ctx": 4.0, "fork": 57.0, "poll": 1.1,
    }


def test_sources_quote_calibration_md() -> None:
    rows = {
        " | ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in CALIBRATION_MD.read_text().splitlines()
        if line.startswith("|")
    }
    for op in CALIBRATION_OPS:
        assert op.source in rows, op.name


# --- running it ---------------------------------------------------------------------------


@pytest.mark.parametrize("libc", [GLIBC, MUSL])
def test_all_runs_natively_and_parses(libc: str) -> None:
    _require(libc)
    result = _run(libc, "all", str(NATIVE_ITERATIONS))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[n, str(NATIVE_ITERATIONS)] for n in OP_NAMES]
    figures = parse_lmbench_output(result.stdout)
    assert list(figures) == OP_NAMES
    assert all(us > 0 for us in figures.values()), figures


@pytest.mark.parametrize("op", OP_NAMES)
def test_each_op_runs_alone(op: str) -> None:
    _require(GLIBC)
    result = _run(GLIBC, op, "5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{op} 5 ") and result.stdout.count("\n") == 1
    assert list(parse_lmbench_output(result.stdout)) == [op]


@pytest.mark.parametrize("args", [("bogus",), ("null", "0"), ("null", "x"), ("null", "1", "2")])
def test_bad_arguments_exit_2(args: tuple[str, ...]) -> None:
    _require(GLIBC)
    result = _run(GLIBC, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert "usage:" in result.stderr


def test_all_runs_in_a_coffer() -> None:
    _require(GLIBC)
    outcome = run_in_coffer(build(LMBENCH_WORKLOAD), ["all", str(COFFER_ITERATIONS)])
    assert outcome.status == 0, outcome.stderr
    figures = parse_lmbench_output(outcome.stdout.decode())
    assert list(figures) == OP_NAMES
    assert all(us >= 0 for us in figures.values()), figures


# --- the parser ---------------------------------------------------------------------------


def test_parser_gives_microseconds_and_skips_blank_lines() -> None:
    text = "\nnull 100 230\n\nfork 10 57000\n   \n"
    assert parse_lmbench_output(text) == {"null": 0.23, "fork": 57.0}
    assert parse_lmbench_output("pagefault 1 0") == {"pagefault": 0.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no results"),
        ("\n  \n", "holds no results"),
        ("null 10", "line 1 'null 10': expected '<op> <iterations> <nanoseconds"),
        ("null 10 5 extra", "line 1 .*: expected '<op>"),
        ("null 10 5\nnope 10 5", "line 2 'nope 10 5': unknown op 'nope'; known ops: null, read"),
        ("null 0 5", "iterations must be an integer >= 1"),
        ("null -3 5", "iterations must be an integer >= 1"),
        ("null ten 5", "iterations must be an integer >= 1"),
        ("null 10 -5", "nanoseconds per operation must be an integer >= 0"),
        ("null 10 1.5", "nanoseconds per operation must be an integer >= 0"),
        ("null 10 ٣", "nanoseconds per operation must be an integer >= 0"),
        ("null 10 5\nread 10 5\nnull 10 6", "line 3 'null 10 6': op 'null' appears twice"),
    ],
)
def test_parser_rejects_malformed_output(text: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        parse_lmbench_output(text)
