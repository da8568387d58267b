"""The command line as a user meets it: output, exit status, --stats, --trace, errors."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.workloads import build
from tests.support import needs


def test_run_prints_guest_output_and_returns_its_status(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--", "@hello"]) == 0
    assert "hello from a coffer" in capfd.readouterr().out
    assert main(["run", "--", "@exitcode", "7"]) == 7


def test_run_reports_death_by_signal_as_128_plus_signal() -> None:
    assert main(["run", "--", "@segv"]) == 128 + 11


def test_stats_json_has_the_documented_fields(tmp_path: Path) -> None:
    stats = tmp_path / "out" / "stats.json"
    assert main(["run", "--stats", str(stats), "--", "@nullsys", "100"]) == 0
    record = json.loads(stats.read_text())
    for key in ("exit_code", "instructions", "user_cycles", "kernel_cycles", "syscalls",
                "unimplemented_syscalls", "wall_seconds", "config"):
        assert key in record, key
    assert record["exit_code"] == 0
    assert record["syscalls"]["by_name"]["getppid"] == 100
    assert record["syscalls"]["total"] >= 100
    assert record["instructions"] > 0 and record["kernel_cycles"] > 0
    assert record["config"]["seed"] == 0


def test_trace_prints_one_line_per_call(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--trace", "--", "@exitcode", "5"]) == 5
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("[1] ")]
    assert any(line.startswith("[1] exit_group(5) = ?") for line in lines)
    assert all(line.endswith("cycles>") for line in lines)


ENOSYS_PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    long r1 = syscall(400);     /* a hole in the x86-64 table */
    int e1 = errno;
    long r2 = syscall(100000);  /* far past its end */
    int e2 = errno;
    printf("%ld %d %ld %d\n", r1, e1 == ENOSYS, r2, e2 == ENOSYS);
    return 0;
}
"""


@needs("gcc")
def test_unimplemented_calls_return_enosys_and_are_counted(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    source, program, stats = tmp_path / "nosys.c", tmp_path / "nosys", tmp_path / "s.json"
    source.write_text(ENOSYS_PROGRAM)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(program), str(source)], check=True)
    assert main(["run", "--trace", "--stats", str(stats), "--", str(program)]) == 0
    captured = capfd.readouterr()
    assert captured.out == "-1 1 -1 1\n"
    assert "syscall_400(" in captured.err and "ENOSYS" in captured.err
    record = json.loads(stats.read_text())
    assert record["unimplemented_syscalls"]["syscall_400"] == 1
    assert record["unimplemented_syscalls"]["syscall_100000"] == 1


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not an ELF"),
    (b"#!/bin/sh\necho hi\n", "script"),
    (b"\x7fELF\x01\x01\x01" + bytes(57), "32-bit"),
    (b"hello world, not a program at all" * 3, "not an ELF"),
])
def test_bad_programs_are_one_line_errors(tmp_path: Path, content: bytes, message: str,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "prog"
    program.write_bytes(content)
    assert main(["run", "--", str(program)]) == 2
    err = capfd.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_and_dynamic_programs(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--", "/no/such/program"]) == 2
    assert "no such file" in capfd.readouterr().err
    if os.path.exists("/bin/ls"):
        assert main(["run", "--", "/bin/ls"]) == 2
        err = capfd.readouterr().err
        assert ("/bin/ls: dynamically linked: its program interpreter "
                "/lib64/ld-linux-x86-64.so.2 is not in the coffer's filesystem") in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_other_architecture_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHI", header, 16, 2, 183, 1)  # ET_EXEC, EM_AARCH64
    program = tmp_path / "arm"
    program.write_bytes(bytes(header))
    assert main(["run", "--", str(program)]) == 2
    assert "aarch64" in capfd.readouterr().err.lower()


def test_usage_errors(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "no program given" in capfd.readouterr().err
    assert main(["run", "--", "@nosuchworkload"]) == 2
    assert "unknown workload" in capfd.readouterr().err.lower()
    with pytest.raises(SystemExit):
        main(["run", "--env", "NOEQUALS", "--", "@hello"])


def test_env_reaches_the_guest(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("busybox-static not installed")
    assert main(["run", "--env", "GREETING=hi there", "--", str(busybox), "env"]) == 0
    assert "GREETING=hi there" in capfd.readouterr().out


def test_workloads_and_demo(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["workloads"]) == 0
    listing = capfd.readouterr().out
    assert "@hello" in listing and "@compute" in listing
    assert main(["demo"]) == 0
    demo = capfd.readouterr().out
    assert "hello from a coffer" in demo and "instructions" in demo


def test_entry_point_runs_as_a_program() -> None:
    build("hello")
    proc = subprocess.run([sys.executable, "-m", "cofferos", "run", "--", "@hello"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0
    assert b"hello from a coffer" in proc.stdout
