"""/proc/sys, /proc/config.gz, uname, personality, the refused clock setters, loadavg.

A C guest (``tests/procsys/sysctl.c``) prints what test suites read (Linux's
default sysctls, the UUIDs' form, the release in three places, personality
across fork and exec, the errors of clock_settime and settimeofday) and must
print the same in a coffer as natively. Direct checks then pin down what only
the model decides: each sysctl is the constant its enforcing code uses, the
kernel config follows the system call table, the load average is Linux's
arithmetic over the coffer's own CPU use.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers import coffer as coffer_module
from cofferos.coffers import files, mm, pipe
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.domain import KernelDomain
from cofferos.coffers.loadavg import FIXED_1, LOAD_FREQ_NS, avenrun, shown
from cofferos.coffers.net import stream
from cofferos.coffers.procfs import kconfig, sysctl
from cofferos.coffers.syscalls import process
from cofferos.coffers.syscalls.table import SyscallTable, default_table
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "procsys"
RUN_TIMEOUT_S = 120
GIB = 1 << 30
NS_PER_SECOND = 1_000_000_000


def read(coffer: Coffer, path: str) -> bytes:
    inode = coffer.fs.open(path, coffer.fs.root, os.O_RDONLY, 0)
    return inode.read(0, 1 << 20)


def sysctl_value(coffer: Coffer, name: str) -> str:
    return read(coffer, f"/proc/sys/{name}").decode().rstrip("\n")


def run_coffer(binary: Path) -> tuple[int, str]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name], [])
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    assert not result.deadlocked
    return result.exit_code, out.getvalue().decode()


# -- against native --------------------------------------------------------------------
@needs_gcc
def test_sysctls_uname_personality_and_clock_setters_match_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "sysctl.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    status, out = run_coffer(binary)
    assert out == native.stdout.decode()
    assert status == native.returncode == 0
    assert "after exec: personality 0x40000\n" in out  # ADDR_NO_RANDOMIZE kept by execve
    assert "clock_settime(CLOCK_REALTIME, &now) = -1 EPERM\n" in out
    assert list(workdir.iterdir()) == []


@needs_gcc
def test_idle_coffer_has_load_0_and_root_may_not_set_the_clock(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "coffer_only.c", tmp_path)
    status, out = run_coffer(binary)
    assert status == 0
    assert re.search(r"^loadavg 0\.00 0\.00 0\.00 1/1 1$", out, re.M), out
    assert "sysinfo loads 0 0 0\n" in out
    assert "clock_settime(CLOCK_REALTIME, &now) = -1 EPERM\n" in out
    assert "settimeofday(&tv, NULL) = -1 EPERM\n" in out
    assert "syscall(SYS_settimeofday, NULL, NULL) = -1 EPERM\n" in out


# -- /proc/sys from the enforcing constants ----------------------------------------------
def test_each_sysctl_is_the_constant_that_enforces_it() -> None:
    coffer = Coffer(CofferConfig(memory_limit=GIB))
    expected = {
        "kernel/pid_max": coffer_module.PID_MAX,
        "fs/nr_open": files.NR_OPEN,
        "fs/pipe-max-size": pipe.PIPE_MAX_SIZE,
        "vm/max_map_count": mm.MAX_MAP_COUNT,
        "net/core/somaxconn": stream.SOMAXCONN,
        "kernel/shmmax": sysctl.SHMMAX,
        "kernel/shmall": sysctl.SHMALL,
        "kernel/shmmni": sysctl.SHMMNI,
        "fs/file-max": sysctl.FILES_MAX_UNLIMITED,
        "vm/overcommit_memory": sysctl.OVERCOMMIT_NEVER,
        "kernel/tainted": 0,
        # set_max_threads: 1 GiB / (8 * 16 KiB kernel stacks)
        "kernel/threads-max": 8192,
    }
    for name, value in expected.items():
        assert sysctl_value(coffer, name) == str(value), name
    assert sysctl_value(coffer, "kernel/osrelease") == process.UTS_RELEASE
    assert process.UTS_RELEASE.startswith("6.1.")
    assert process.UTS_RELEASE in read(coffer, "/proc/version").decode()
    assert sysctl_value(coffer, "kernel/hostname") == coffer.config.hostname


def test_threads_max_is_a_shared_kernels_limit_when_it_has_one() -> None:
    domain = KernelDomain("host", threads_max=300)
    first = Coffer(CofferConfig(name="a"), domain=domain)
    Coffer(CofferConfig(name="b"), domain=domain)
    assert sysctl_value(first, "kernel/threads-max") == "300"


def test_tainted_after_an_oops() -> None:
    coffer = Coffer(CofferConfig())
    coffer.stats.oopses.append("a kernel error the coffer survived")
    assert sysctl_value(coffer, "kernel/tainted") == str(sysctl.TAINT_DIE)


def test_boot_id_is_fixed_per_coffer_and_seed_and_uuid_is_fresh() -> None:
    def boot_id(**config: object) -> str:
        return sysctl_value(Coffer(CofferConfig(**config)), "kernel/random/boot_id")  # type: ignore[arg-type]
    assert boot_id(seed=1, name="a") == boot_id(seed=1, name="a")
    assert boot_id(seed=1, name="a") != boot_id(seed=2, name="a")
    assert boot_id(seed=1, name="a") != boot_id(seed=1, name="b")
    first, second = Coffer(CofferConfig(seed=5)), Coffer(CofferConfig(seed=5))
    uuids = [sysctl_value(first, "kernel/random/uuid") for _ in range(2)]
    assert uuids[0] != uuids[1]
    assert uuids == [sysctl_value(second, "kernel/random/uuid") for _ in range(2)]


def test_sysctl_files_are_read_only() -> None:
    coffer = Coffer(CofferConfig())
    inode = coffer.fs.lookup("/proc/sys/fs/pipe-max-size", coffer.fs.root)
    assert inode.mode & 0o777 == 0o444


# -- /proc/config.gz -------------------------------------------------------------------
def config_lines(coffer: Coffer) -> list[str]:
    return gzip.decompress(read(coffer, "/proc/config.gz")).decode().splitlines()


def test_config_gz_says_what_the_table_implements() -> None:
    lines = config_lines(Coffer(CofferConfig()))
    assert lines[2] == f"# Linux/x86 {process.UTS_RELEASE} Kernel Configuration"
    options = {}
    for line in lines:
        if match := re.fullmatch(r"CONFIG_(\w+)=y", line):
            options[match.group(1)] = True
        elif match := re.fullmatch(r"# CONFIG_(\w+) is not set", line):
            options[match.group(1)] = False
    implemented = set(default_table().implemented())
    for name, calls in kconfig.BY_CALLS:
        assert options[name] == (set(calls) <= implemented), name
    assert options["EPOLL"] and options["FUTEX"] and options["IKCONFIG_PROC"]
    assert not options["MODULES"] and not options["SWAP"]
    assert options["DNOTIFY"]  # F_NOTIFY signals directory changes (coffers/dnotify.py)
    assert len(options) == len(kconfig.FIXED) + len(kconfig.BY_CALLS)


def test_config_gz_follows_the_coffers_own_table() -> None:
    table = SyscallTable()
    for entry in default_table().entries:
        if entry is not None and not entry.name.startswith("epoll"):
            table.add(entry.name, entry.handler, *entry.args)
    lines = config_lines(Coffer(CofferConfig(), table=table))
    assert "# CONFIG_EPOLL is not set" in lines
    assert read(Coffer(CofferConfig()), "/proc/config.gz") == read(
        Coffer(CofferConfig(seed=9)), "/proc/config.gz")  # no time stamp in the file


# -- load averages -----------------------------------------------------------------------
def _coffer_after(busy_s: float, idle_s: float) -> Coffer:
    coffer = Coffer(CofferConfig())
    coffer.user_cycles = int(busy_s * coffer.config.kernel_costs.frequency_hz)
    coffer.sleep_ns = int(idle_s * NS_PER_SECOND)
    return coffer


def test_load_is_0_before_the_first_sample_and_for_an_idle_coffer() -> None:
    assert avenrun(_coffer_after(busy_s=LOAD_FREQ_NS / NS_PER_SECOND * 0.99, idle_s=0)) == (
        0, 0, 0)
    assert avenrun(_coffer_after(busy_s=0, idle_s=600)) == (0, 0, 0)


def test_a_busy_coffer_loads_as_linux_folds_it() -> None:
    one, five, fifteen = avenrun(_coffer_after(busy_s=60, idle_s=0))
    # Eleven samples of one running task: 1 - exp(-55/60) for the one-minute average.
    assert one / FIXED_1 == pytest.approx(0.60, abs=0.01)
    assert one > five > fifteen > 0
    coffer = _coffer_after(busy_s=60, idle_s=0)
    shown_loads = read(coffer, "/proc/loadavg").decode().split()[:3]
    assert shown_loads == [shown(load) for load in avenrun(coffer)]
    assert shown(FIXED_1) == "1.00" and shown(0) == "0.00"
