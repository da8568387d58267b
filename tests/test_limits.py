"""Limits are the coffer's, never the host's: exhaustion ends in an errno inside the coffer.

A fork bomb meets the coffer's RLIMIT_NPROC (EAGAIN), descriptor exhaustion its
RLIMIT_NOFILE (EMFILE), a runaway allocation its memory limit (ENOMEM). In each
case the guest sees the error, the coffer finishes normally, and the simulator
goes on to run the next coffer.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cofferos.coffers.fdtable import FD_BYTES
from cofferos.workloads import build
from tests.support import needs, run_in_coffer

FORK_BOMB = r"""
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int children = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid == 0) { pause(); _exit(0); }
        if (pid < 0) {
            printf("fork failed: %s after %d children\n", strerror(errno), children);
            break;
        }
        children++;
    }
    kill(-1, SIGKILL);  /* every process of the coffer but init (us) */
    int reaped = 0, status;
    while (wait(&status) > 0) reaped += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    printf("reaped %d killed children\n", reaped);
    return 0;
}
"""

FD_EXHAUSTION = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    int opened = 0;
    while (open("/dev/null", O_RDONLY) >= 0) opened++;
    printf("open failed: %s after %d descriptors\n", strerror(errno), opened);
    return 0;
}
"""

MEMORY_HOG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    size_t chunk = 1 << 20, total = 0;
    for (;;) {
        char *p = malloc(chunk);
        if (!p) break;
        memset(p, 1, chunk);
        total += chunk;
    }
    printf("malloc failed after %zu MiB\n", total >> 20);
    return 0;
}
"""


def _compile(tmp_path: Path, name: str, source: str) -> Path:
    src, exe = tmp_path / f"{name}.c", tmp_path / name
    src.write_text(source)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def _simulator_goes_on() -> None:
    after = run_in_coffer(build("hello"))
    assert after.status == 0 and b"hello from a coffer" in after.stdout


@needs("gcc")
def test_fork_bomb_meets_the_coffers_process_limit(tmp_path: Path) -> None:
    outcome = run_in_coffer(_compile(tmp_path, "bomb", FORK_BOMB), nproc_limit=40)
    assert outcome.status == 0
    assert outcome.stdout == (b"fork failed: Resource temporarily unavailable after 39 children\n"
                              b"reaped 39 killed children\n")
    _simulator_goes_on()


@needs("gcc")
def test_descriptor_exhaustion_meets_the_coffers_nofile_limit(tmp_path: Path) -> None:
    outcome = run_in_coffer(_compile(tmp_path, "fds", FD_EXHAUSTION), nofile_limit=64)
    assert outcome.status == 0
    assert outcome.stdout == b"open failed: Too many open files after 61 descriptors\n"
    _simulator_goes_on()


NOFILE_LIMITS = r"""
#include <stdio.h>
#include <sys/resource.h>
int main(void) {
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    printf("RLIMIT_NOFILE %llu %llu\n", (unsigned long long)limit.rlim_cur,
           (unsigned long long)limit.rlim_max);
    return 0;
}
"""


@needs("gcc")
def test_a_coffer_starts_with_the_descriptor_limits_of_a_native_process(
        tmp_path: Path) -> None:
    """Unless ``nofile_limit`` is set, as a process started on this host (CPython's
    test_subprocess.test_no_leaking skips natively only because it cannot reach it)."""
    binary = _compile(tmp_path, "nofile", NOFILE_LIMITS)
    native = subprocess.run([str(binary)], capture_output=True, check=True).stdout
    assert run_in_coffer(binary).stdout == native
    assert run_in_coffer(binary, nofile_limit=64).stdout == b"RLIMIT_NOFILE 64 64\n"


@needs("gcc")
def test_descriptors_are_bounded_by_the_coffers_memory_limit(tmp_path: Path) -> None:
    """However high RLIMIT_NOFILE is, each descriptor takes FD_BYTES of an account as
    large as the memory limit (a memory cgroup charges each struct file), so the limit
    bounds what they hold of the host."""
    outcome = run_in_coffer(_compile(tmp_path, "fds", FD_EXHAUSTION), nofile_limit=1 << 20,
                            memory_limit=12 << 20)
    words = outcome.stdout.split()
    assert outcome.status == 0 and b" ".join(words[:5]) == b"open failed: Cannot allocate memory"
    assert int(words[6]) == (12 << 20) // FD_BYTES - 3  # stdin, stdout and stderr hold 3
    _simulator_goes_on()


@needs("gcc")
def test_runaway_allocation_meets_the_coffers_memory_limit(tmp_path: Path) -> None:
    limit_mib = 64
    outcome = run_in_coffer(_compile(tmp_path, "hog", MEMORY_HOG), memory_limit=limit_mib << 20)
    assert outcome.status == 0
    mib = int(outcome.stdout.split()[3])
    assert limit_mib - 16 <= mib < limit_mib, outcome.stdout
    assert outcome.result is not None
    _simulator_goes_on()
