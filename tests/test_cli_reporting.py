"""What ``coffersim`` says about a run: how it ended, its summary, its JSON, readable tables."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest

from cofferos.api import resolve_program
from cofferos.cli import main
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.personalities.base import Personality, SyscallContext
from cofferos.results.tables import format_table

HELLO_SAYS = "hello from a coffer"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- how a run ended ----------------------------------------------------------------------------
@pytest.mark.parametrize("timed", [[], ["--kernel", "linux"]], ids=["functional", "timed"])
@pytest.mark.parametrize(("options", "program", "reason", "status"), [
    ([], ["@tcpserver"], "deadlock", 128 + signal.SIGKILL),
    (["--max-instructions", "1000"], ["@hello"], "instruction-limit", 128 + signal.SIGXCPU),
    (["--personality", "agent:max_cycles=1000"], ["@hello"], "personality-kill",
     128 + signal.SIGXCPU),
    ([], ["@hello"], "exit", 0),
])
def test_the_end_reason_is_said_and_recorded(
        options: list[str], program: list[str], reason: str, status: int, timed: list[str],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    code, _out, err = _run(["run", *timed, *options, "--stats", str(stats), "--no-summary",
                            "--", *program], capsys)
    assert code == status
    assert json.loads(stats.read_text())["end_reason"] == reason
    ended = [line for line in err.splitlines() if "the run ended by" in line]
    if reason == "exit":
        assert ended == []
    else:
        assert len(ended) == 1 and ended[0].startswith(f"coffersim: the run ended by {reason}:")
        assert ended[0].endswith(f"exit status {status}")


class Broken(Personality):
    """A personality with a bug: the kernel model must contain it (an oops)."""

    name = "broken"

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if ctx.name == "write":
            raise RuntimeError("a bug in a personality")
        return None


def test_a_failing_personality_is_the_end_reason_with_its_exception() -> None:
    coffer = Coffer(CofferConfig(), stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace([Broken()])
    coffer.spawn(resolve_program("@hello"), ["hello"])
    result = coffer.run()
    assert result.end_reason == "personality-failure"
    assert result.exit_status.signal == signal.SIGSYS
    assert "RuntimeError: a bug in a personality" in result.exit_status.detail


def test_a_signal_or_an_exit_is_the_programs_own_end() -> None:
    from cofferos.coffers.task import ExitStatus

    assert ExitStatus(code=3).end_reason == "exit"
    assert ExitStatus(signal=signal.SIGSEGV).end_reason == "signal"
    killed = ExitStatus(signal=signal.SIGKILL, cause="deadlock")
    assert killed.end_reason == "deadlock" and killed == ExitStatus(signal=signal.SIGKILL)


def test_per_container_reasons_in_the_timed_record(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    main(["run", "--containers", "2", "--max-instructions", "1000", "--stats", str(stats),
          "--", "@hello"])
    capsys.readouterr()
    record = json.loads(stats.read_text())
    assert [c["end_reason"] for c in record["per_container"]] == ["instruction-limit"] * 2
    assert record["instructions"] >= 2000 and record["syscalls"]["total"] >= 0


# -- the summary and the JSON record ---------------------------------------------------------
@pytest.mark.parametrize("timed", [[], ["--kernel", "cofferos"]], ids=["functional", "timed"])
def test_summary_is_one_line_of_totals(timed: list[str],
                                       capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["run", *timed, "--summary", "--", "@hello"], capfd)
    assert code == 0 and HELLO_SAYS in out
    summary = [line for line in err.splitlines() if "instructions," in line]
    assert len(summary) == 1
    for word in ("instructions", "cycles", "system calls", "ms simulated", "s host time"):
        assert word in summary[0]


def test_no_summary_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(["run", "--", "@hello"], capsys)
    assert code == 0 and err == ""


@pytest.mark.parametrize("timed", [[], ["--kernel", "cofferos"]], ids=["functional", "timed"])
def test_json_puts_only_the_record_on_stdout(timed: list[str],
                                             capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["run", *timed, "--json", "--", "@hello"], capfd)
    record = json.loads(out)  # nothing else on stdout: the guest's output went to stderr
    assert code == 0 and record["exit_code"] == 0 and record["end_reason"] == "exit"
    assert record["instructions"] > 0
    assert HELLO_SAYS in err


def test_json_listings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["workloads", "--json"], capsys)
    names = [w["name"] for w in json.loads(out)]
    assert code == 0 and "@hello" in names
    code, out, _ = _run(["personalities", "--json"], capsys)
    listed = {p["name"]: p for p in json.loads(out)}
    assert code == 0 and "hardened" in listed
    assert any(o["name"] == "profile" for o in listed["hardened"]["options"])


# -- tables -------------------------------------------------------------------------------------
def test_tables_round_for_people() -> None:
    table = format_table(("what", "value"), [("a", 0.000123456), ("b", 12345.678),
                                              ("c", 3.14159265), ("d", 1234567)])
    assert "0.0001235" in table and "12,346" in table and "3.142" in table
    assert "1,234,567" in table and "3.14159" not in table


def test_long_text_wraps_at_the_width() -> None:
    description = "a long description " * 8
    table = format_table(("name", "n", "description"), [("x", 1, description)], width=60)
    lines = table.splitlines()
    assert all(len(line) <= 60 for line in lines) and len(lines) > 3
    assert " ".join(lines[2:]).count("description") == 8  # every word is still there


def test_listings_wrap_at_the_terminal(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    for command in ("workloads", "personalities"):
        code, out, _ = _run([command], capsys)
        assert code == 0 and max(len(line) for line in out.splitlines()) <= 70, command


def test_a_pipe_gets_one_line_per_row(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = _run(["workloads"], capsys)
    rows = [line for line in out.splitlines()[2:] if line.strip()]
    assert code == 0 and all(line.startswith("@") for line in rows)


def test_an_oops_is_one_line_on_stderr_and_in_full_in_the_stats(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cofferos.personalities import stack

    installed = stack.available()
    monkeypatch.setattr(stack, "available", lambda: {**installed, "broken": Broken})
    stats = tmp_path / "stats.json"
    code, _out, err = _run(["run", "--personality", "broken", "--stats", str(stats),
                            "--no-summary", "--", "@hello"], capsys)
    assert code == 128 + signal.SIGSYS and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("coffersim: the run ended by personality-failure:")
    assert "RuntimeError: a bug in a personality" in lines[0]
    record = json.loads(stats.read_text())
    assert record["end_reason"] == "personality-failure"
    assert "Traceback" in record["oops_reports"][0]
