"""The ``deterministic`` and ``agent`` personalities, on real static programs.

``deterministic``: a C guest prints its clocks and getrandom bytes; two runs, and
a recorded run and its replay, print the same, and a replay that diverges is
killed with SIGSYS. ``agent``: busybox scripts in a busybox rootfs meet its path,
exec and connect policy, its rates and quotas and its audit trail; a checkpoint
brings back a file removed after it.
"""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.rootfs import (
    COFFER_CWD,
    INSTRUCTION_LIMIT,
    SHELL_ARGV0,
    busybox_rootfs,
    run_busybox_in_coffer,
)
from tests.support import Outcome, compile_guest, needs_gcc, run_in_coffer

SIGSYS_STATUS = 128 + signal.SIGSYS

CLOCKS_AND_RANDOM = r"""
#include <stdio.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

static void show_random(void) {
    unsigned char buf[8];
    long n = getrandom(buf, sizeof buf, 0);
    printf("getrandom %ld:", n);
    for (int i = 0; i < (int)sizeof buf; i++) printf(" %02x", buf[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    struct timespec ts;
    struct timeval tv;
    (void)argv;
    if (argc > 1) show_random();  /* another order of calls than without arguments */
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("realtime %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("monotonic %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    gettimeofday(&tv, 0);
    printf("timeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    if (argc == 1) show_random();
    return 0;
}
"""


@pytest.fixture(scope="module")
def clocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("guest")
    source = out / "clocks.c"
    source.write_text(CLOCKS_AND_RANDOM)
    return compile_guest(source, out)


# -- deterministic ---------------------------------------------------------------------


@needs_gcc
def test_deterministic_runs_print_the_same(clocks: Path) -> None:
    spec = "deterministic:seed=7,step_ns=500"
    first = run_in_coffer(clocks, personalities=(spec,))
    # Another seed for the coffer itself and other cycle costs change nothing.
    second = run_in_coffer(clocks, personalities=(spec,), seed=99)
    assert first.status == 0, first.stderr
    assert first.stdout == second.stdout
    lines = first.stdout.decode().splitlines()
    assert lines[0] == "realtime 1767225600.000000000"
    assert lines[2].startswith("timeofday 1767225600.000001")  # two 500 ns steps later


@needs_gcc
def test_record_then_replay_reproduces_the_output(clocks: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    recorded = run_in_coffer(clocks, personalities=(f"deterministic:mode=record,log={log}",
                                                    "deterministic:seed=3"))
    assert recorded.status == 0, recorded.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    clock = next(e for e in entries if e["name"] == "clock_gettime")
    assert clock["result"] == 0 and clock["memory"][0][0] == 1
    assert len(bytes.fromhex(clock["memory"][0][1])) == 16
    # Replayed under another clock and seed: the log wins.
    replayed = run_in_coffer(clocks, personalities=(
        f"deterministic:mode=replay,log={log},clock_ns=5,seed=11",))
    assert replayed.status == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


@needs_gcc
def test_replay_mismatch_kills_with_sigsys(clocks: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    run_in_coffer(clocks, personalities=(f"deterministic:mode=record,log={log}",))
    diverged = run_in_coffer(clocks, ["random-first"],
                             personalities=(f"deterministic:mode=replay,log={log}",))
    assert diverged.status == SIGSYS_STATUS
    assert diverged.result is not None
    assert any("replay mismatch" in oops for oops in diverged.result.oopses)


# -- agent -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_rootfs(tmp_path_factory.mktemp("agent"))


def _agent(script: str, root: Path, **options: str) -> tuple[Outcome, list[dict[str, Any]]]:
    """Run ``script`` under an agent with ``options``; the outcome and its audit lines."""
    audit = root.parent / "audit.jsonl"
    audit.unlink(missing_ok=True)
    spec = ",".join(f"{key}={value}" for key, value in {**options, "audit": audit}.items())
    outcome = run_busybox_in_coffer(script, root=root, personalities=(f"agent:{spec}",))
    lines = audit.read_text().splitlines() if audit.exists() else []
    return outcome, [json.loads(line) for line in lines]


def test_agent_denies_writes_outside_the_write_prefixes(rootfs: Path) -> None:
    outcome, audit = _agent("echo hi > /tmp/ok && cat /tmp/ok && echo no > /etc/motd; "
                            "echo status $?; cd /tmp && echo rel > rel && cat rel && "
                            "rm /etc/hostname; echo rm $?", rootfs)
    assert outcome.stdout.decode().splitlines() == ["hi", "status 1", "rel", "rm 1"]
    assert b"Permission denied" in outcome.stderr
    denied = [e for e in audit if e["event"] == "deny"]
    assert {e["path"] for e in denied} == {"/etc/motd", "/etc/hostname"}
    assert {"/tmp/ok", "/tmp/rel"} <= {e["path"] for e in audit if e["event"] == "open_write"}


def test_agent_denies_exec_outside_the_list(rootfs: Path) -> None:
    outcome, audit = _agent("/bin/true && echo true ran; /bin/false; echo false $?", rootfs,
                            exec="/bin/true")
    assert outcome.stdout.decode().splitlines() == ["true ran", "false 126"]
    assert [e["path"] for e in audit if e["event"] == "exec"] == ["/bin/true"]
    assert [e["path"] for e in audit if e["event"] == "deny"] == ["/bin/false"]


def test_agent_exec_quota(rootfs: Path) -> None:
    outcome, audit = _agent("/bin/true; echo $?; /bin/true; echo $?", rootfs, max_execs="1")
    assert outcome.stdout == b"0\n126\n"
    assert audit[-1]["errno"] == "EDQUOT"


def test_agent_resolves_symlinks_before_judging(rootfs: Path) -> None:
    outcome, _ = _agent("ln -s /etc /tmp/etc && echo x > /tmp/etc/motd; echo $?", rootfs)
    assert outcome.stdout == b"1\n"


def test_agent_refuses_connects_to_peers_not_listed(rootfs: Path) -> None:
    outcome, audit = _agent("echo hi | nc 10.0.0.1 80; echo nc $?", rootfs)
    assert outcome.stdout.decode().splitlines()[-1] == "nc 1"
    assert [e["peer"] for e in audit if e["event"] == "deny"] == ["10.0.0.1:80"]
    assert audit[-1]["errno"] == "ECONNREFUSED"


def test_agent_rate_limits_opens(rootfs: Path) -> None:
    script = "for i in 1 2 3 4 5; do cat /etc/hostname; done"
    outcome, audit = _agent(script, rootfs, rate="open=2/s")
    assert outcome.stdout == b"coffer\ncoffer\n"
    assert outcome.stderr.count(b"Resource temporarily unavailable") == 3
    assert [e["rate"] for e in audit if e["event"] == "deny"] == ["open"] * 3


def test_agent_write_quota(rootfs: Path) -> None:
    script = ("echo 0123456789 > /tmp/a; echo a $?; echo 0123456789 > /tmp/b; echo b $?; "
              "cat /tmp/b")
    outcome, audit = _agent(script, rootfs, max_bytes_written="15")
    lines = outcome.stdout.decode().splitlines()
    assert lines[:2] == ["a 0", "b 1"]
    assert lines[2] == "0123"  # 11 bytes, then cut at the quota of 15
    assert b"Disk quota exceeded" in outcome.stderr
    assert [e["errno"] for e in audit if e["event"] == "deny"] == ["EDQUOT"]


def test_agent_keeps_the_audit_in_memory_without_a_file(rootfs: Path) -> None:
    coffer = Coffer(CofferConfig(rootfs=str(rootfs), cwd=COFFER_CWD,
                                 instruction_limit=INSTRUCTION_LIMIT,
                                 personalities=("agent:write=/tmp:/root",)),
                    stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    agent = coffer.dispatcher.personalities.personalities[0]
    coffer.spawn(str(rootfs / "bin" / "busybox"), [SHELL_ARGV0, "-c", "echo > /root/x"])
    assert coffer.run().exit_code == 0
    assert [(e["event"], e["path"]) for e in agent.audit] == [("open_write", "/root/x")]


def test_agent_rollback_restores_a_deleted_file(rootfs: Path) -> None:
    coffer = Coffer(CofferConfig(rootfs=str(rootfs), cwd=COFFER_CWD,
                                 instruction_limit=INSTRUCTION_LIMIT,
                                 personalities=("agent",)),
                    stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    agent = coffer.dispatcher.personalities.personalities[0]
    inode = coffer.fs.open("/tmp/keep", coffer.fs.root, os.O_CREAT | os.O_WRONLY, 0o644, 0o022)
    inode.write(0, b"precious\n")
    token = agent.checkpoint(coffer)
    coffer.spawn(str(rootfs / "bin" / "busybox"),
                 [SHELL_ARGV0, "-c", "rm /tmp/keep && echo new > /tmp/new"])
    assert coffer.run().exit_code == 0
    assert coffer.fs.root.child("tmp").child("keep") is None
    agent.rollback(coffer, token)
    tmp = coffer.fs.lookup("/tmp", coffer.fs.root)
    assert tmp.child("keep").read(0, 100) == b"precious\n"
    assert tmp.child("new") is None
    assert coffer.fs.lookup("/etc/hostname", coffer.fs.root).read(0, 100) == b"coffer\n"
