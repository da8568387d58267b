"""Tests of readiness and event descriptors: poll, select, eventfd, timerfd, epoll.

Each C guest in ``tests/events/`` makes the calls of one family, error paths,
timeouts and waits that another process ends included, and prints every result
or errno name (with ``check.h`` of the file-call guests); it must print exactly
the same, and exit the same way, in a coffer as natively. Nothing printed
depends on timing beyond "waited at least the timeout", which the coffer's
clock guarantees exactly and the host's clock guarantees too.

The last test shows that waiting costs the host nothing: a coffer's poll
timeouts advance its simulated clock by the timeout while the host does not
sleep at all.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from cofferos.coffers.syscalls.table import default_table
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "events"
COFFER_CWD = "/tmp"
MS = 1_000_000
#: How far past its timeout a simulated poll may return: the cycles of a few calls.
POLL_SLACK_NS = 1 * MS




@needs_gcc
@pytest.mark.parametrize("guest", ["poll", "select", "eventfd", "timerfd", "epoll"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / f"{guest}.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_native(binary, cwd=workdir)
    coffer = run_in_coffer(binary, cwd=COFFER_CWD)
    assert coffer.result is not None and coffer.result.oopses == [], coffer.result.oopses
    assert not coffer.result.deadlocked
    assert coffer.stdout.decode().splitlines() == native.stdout.decode().splitlines()
    assert coffer.status == native.status == 0
    assert list(workdir.iterdir()) == []


POLL_CLOCK_GUEST = r"""
#include <poll.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b;
    long long longest = 0, shortest = -1;
    for (int i = 0; i < ROUNDS; i++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (poll(NULL, 0, TIMEOUT_MS) != 0)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        long long waited = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
        if (waited > longest) longest = waited;
        if (shortest < 0 || waited < shortest) shortest = waited;
    }
    printf("shortest %lld longest %lld\n", shortest, longest);
    return 0;
}
"""
ROUNDS, TIMEOUT_MS = 40, 50


@needs_gcc
def test_poll_timeout_advances_the_coffer_clock_not_the_hosts(tmp_path: Path) -> None:
    """Each 50 ms poll moves the simulated clock by 50 ms; 2 s of waits take the host far less."""
    source = tmp_path / "pollclock.c"
    source.write_text(POLL_CLOCK_GUEST.replace("ROUNDS", str(ROUNDS))
                      .replace("TIMEOUT_MS", str(TIMEOUT_MS)))
    binary = compile_guest(source, tmp_path)
    started = time.monotonic()
    outcome = run_in_coffer(binary)
    host_ns = (time.monotonic() - started) * 1e9
    assert outcome.status == 0, outcome.stderr
    match = re.fullmatch(rb"shortest (\d+) longest (\d+)\n", outcome.stdout)
    assert match is not None, outcome.stdout
    shortest, longest = int(match[1]), int(match[2])
    assert TIMEOUT_MS * MS <= shortest <= longest <= TIMEOUT_MS * MS + POLL_SLACK_NS
    assert outcome.result is not None
    simulated_ns = outcome.result.simulated_ns
    assert simulated_ns >= ROUNDS * TIMEOUT_MS * MS
    assert host_ns < simulated_ns


def test_the_families_are_registered() -> None:
    implemented = set(default_table().implemented())
    assert {"poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2", "timerfd_create",
            "timerfd_settime", "timerfd_gettime", "epoll_create", "epoll_create1",
            "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2"} <= implemented
