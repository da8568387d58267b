"""The fuzzing campaign (issue #13): a hostile guest beside victims harms nothing.

The short campaign here is what CI runs: about 20,000 seeded random system calls
from ``@fuzz`` beside the default victims (a file loop and a clock/pipe/poll loop),
with no oops, no change to the victims' output or exit, and the host's peak memory
within the stated bound. The longer one is ``benchmarks/test_bench_fuzz.py`` or
``coffersim fuzz --calls 1000000``. The other tests check that the harness itself
sees what it must report: an oops (with the call that raised it), harm to a victim,
and a fuzzer that refuses to run natively.
"""

from __future__ import annotations

import subprocess

import pytest

from cofferos.cli import main
from cofferos.coffers import coffer
from cofferos.coffers.syscalls import process
from cofferos.coffers.syscalls.table import default_table
from cofferos.sim.experiment import ContainerReport
from cofferos.sim.fuzz import FuzzConfig, _differences, oops_key, run_campaign
from cofferos.workloads import build
from tests.support import needs_gcc

#: The CI campaign: about 20,000 calls (well inside 2 minutes on an idle machine).
CI_CALLS = 20_000
CI_SEED = 1


@needs_gcc
def test_a_short_campaign_harms_nothing() -> None:
    report = run_campaign(FuzzConfig(calls=CI_CALLS, seed=CI_SEED))
    assert report.finished and report.calls_drawn == CI_CALLS
    assert report.syscalls >= CI_CALLS // 2  # children that end themselves make fewer
    assert [oops.traceback for oops in report.oopses] == []
    assert report.harm == []
    assert not report.memory_exceeded, report.peak_rss_bytes
    assert report.ok


@needs_gcc
def test_the_campaign_is_deterministic_in_its_seed() -> None:
    first, second = (run_campaign(FuzzConfig(calls=300, seed=7, victims=(("@hello",),)))
                     for _ in range(2))
    assert (first.syscalls, first.simulated_seconds) == (second.syscalls,
                                                         second.simulated_seconds)


@needs_gcc
def test_an_oops_is_reported_once_per_traceback_with_its_call(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(task: object) -> int:
        raise RuntimeError(f"a kernel bug {id(task)}")  # the message varies; the key does not

    monkeypatch.setattr(process, "sys_getppid", broken)
    # (coffers share a table built with the handlers of its time: build theirs anew)
    monkeypatch.setattr(coffer, "shared_default_table", default_table)
    assert main(["fuzz", "--calls", "2000", "--seed", "3", "--victim", "@hello"]) == 1
    out = capsys.readouterr().out
    assert "oopses: 1 distinct" in out and "RuntimeError: a kernel bug" in out
    assert "first raised by fuzzer: getppid(" in out
    assert "result: FAILED" in out


def _report(**changes: object) -> ContainerReport:
    fields = dict(name="victim0", exit_code=0, ops=1, seconds=1.0, throughput=1.0,
                  p50_us=None, p99_us=None, stdout=b"ok\n", stderr=b"")
    fields.update(changes)
    return ContainerReport(**fields)  # type: ignore[arg-type]


def test_harm_is_any_change_of_exit_or_output() -> None:
    alone = _report()
    assert _differences(alone, _report()) == []
    harmed = _differences(alone, _report(exit_code=137, killed_by=9, stdout=b""))
    assert [line.split()[0] for line in harmed] == ["exit_code", "killed_by", "stdout"]


def test_oopses_are_the_same_when_only_the_message_differs() -> None:
    def trace(message: str, line: int = 10) -> str:
        return ("Traceback (most recent call last):\n"
                f'  File "/k/read_write.py", line {line}, in sys_read\n'
                "    x = y\n"
                f"ValueError: {message}\n")

    assert oops_key(trace("1 is bad")) == oops_key(trace("2 is bad"))
    assert oops_key(trace("1 is bad")) != oops_key(trace("1 is bad", line=11))


@needs_gcc
def test_the_fuzzer_refuses_to_run_outside_a_coffer() -> None:
    native = subprocess.run([str(build("fuzz")), "100", "1"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert native.returncode == 2
    assert "refusing to fuzz" in native.stdout


def test_bad_options_are_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:  # argparse refuses it, as every choice
        main(["fuzz", "--kernel", "nope"])
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("coffersim: error: argument --kernel: unknown kernel 'nope'")
    assert len(err.strip().splitlines()) == 1
