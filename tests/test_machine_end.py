"""The timing machine's run ends when every coffer's init has exited (found by the fuzzer).

A task killed while it slept left its wake-up timer scheduled, and the machine ran
its clock on to that deadline: a container that finished in a millisecond reported
a machine time of 10^6 simulated seconds. A deadlock and a time limit still end
the run as before.
"""

from __future__ import annotations

from pathlib import Path

from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.machine import MachineConfig
from tests.support import compile_guest, needs_gcc

SLEEPER_KILLED = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) { struct timespec t = {1000000, 0}; nanosleep(&t, 0); _exit(0); }
    usleep(1000);
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    printf("done\n");
    return 0;
}
"""

PAUSED = r"""
#include <unistd.h>
int main(void) { pause(); return 0; }
"""

SECOND_NS = 1_000_000_000


def _binary(tmp_path: Path, source: str) -> str:
    path = tmp_path / "guest.c"
    path.write_text(source)
    return str(compile_guest(path, tmp_path))


@needs_gcc
def test_a_killed_sleepers_timer_does_not_run_the_clock_on(tmp_path: Path) -> None:
    report = run_mix([ContainerSpec(_binary(tmp_path, SLEEPER_KILLED))])
    (container,) = report.containers
    assert container.stdout == b"done\n" and container.exit_code == 0
    assert report.simulated_seconds < 1
    assert report.simulated_seconds == container.seconds


@needs_gcc
def test_a_deadlock_and_a_time_limit_still_end_the_run(tmp_path: Path) -> None:
    paused = _binary(tmp_path, PAUSED)
    (deadlocked,) = run_mix([ContainerSpec(paused)]).containers
    assert deadlocked.exit_code == 137 and not deadlocked.cut_off
    limited = run_mix([ContainerSpec(paused)],
                      machine=MachineConfig(until_ns=SECOND_NS // 1000)).containers[0]
    assert limited.cut_off
