"""The catalog of built-in guest workloads: one explicit entry per program.

Each :class:`Workload` names a source file in ``workloads/src/``, says what the
program exercises, which libc variants it builds with, and the arguments the
simulator passes when the user gives none. Nothing here walks a directory: a new
workload is a source file plus one entry in :data:`WORKLOADS`.

:mod:`cofferos.workloads.build` turns an entry into a static ELF (cached), and
the command line refers to it as ``@name`` or ``@name:libc``.

Every program prints a summary that depends only on its arguments, so a run
under the simulator can be compared with the same binary run natively.

    >>> WORKLOADS["asmloop"].expected_instructions == 1 + 2 * ASMLOOP_ITERATIONS + 3
    True
"""

from __future__ import annotations

from dataclasses import dataclass

#: Libc variants a workload may be built against (see :mod:`cofferos.workloads.build`).
GLIBC = "glibc"
MUSL = "musl"
GLIBC_PIE = "glibc-pie"
ALL_LIBCS: tuple[str, ...] = (GLIBC, MUSL, GLIBC_PIE)

#: What a C program without libc needs: no stack protector (its canary lives in the TLS
#: libc sets up), and no calls to memset/memcpy that the optimiser would invent.
FREESTANDING_C_FLAGS = ("-ffreestanding", "-fno-stack-protector",
                        "-fno-tree-loop-distribute-patterns")

#: The loop count fixed in ``src/asmloop.S`` (its ``ITERATIONS`` macro).
ASMLOOP_ITERATIONS = 1_000_000
#: Instructions before the loop: ``mov $ITERATIONS, %ecx``.
ASMLOOP_PROLOGUE = 1
#: Instructions per iteration: ``dec %ecx; jnz 1b``.
ASMLOOP_BODY = 2
#: Instructions after the loop, the syscall included: ``mov $60, %eax; xor %edi, %edi; syscall``.
ASMLOOP_EPILOGUE = 3


@dataclass(frozen=True)
class Workload:
    """One built-in guest program."""

    name: str
    """What the user types after ``@``."""
    source: str
    """File name under ``workloads/src/`` (``.c`` with libc, ``.S`` freestanding)."""
    description: str
    """One line: what the program does and which kernel paths it exercises."""
    default_args: tuple[str, ...] = ()
    """Arguments after argv[0] used when the user gives none: the program's own defaults."""
    libcs: tuple[str, ...] = ALL_LIBCS
    """Libc variants this program builds with."""
    expected_instructions: int | None = None
    """Exact number of guest instructions a full run executes, when that is known."""
    freestanding: bool = False
    """Linked with ``-nostdlib``: the source provides ``_start`` and makes raw system calls."""
    libs: tuple[str, ...] = ()
    """Extra link flags appended after the source, e.g. ``("-pthread",)`` or ``("-lsqlite3",)``."""
    cflags: tuple[str, ...] = ()
    """Extra compiler flags before the source, e.g. what a freestanding C program needs."""


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="hello",
            source="hello.c",
            description="prints 'hello from a coffer' and its argc; write and exit_group",
        ),
        Workload(
            name="compute",
            source="compute.c",
            description="CPU-bound xorshift checksum over N iterations (default 5000000)",
            default_args=("5000000",),
        ),
        Workload(
            name="nullsys",
            source="nullsys.c",
            description="N getppid system calls via syscall(2) (default 100000)",
            default_args=("100000",),
        ),
        Workload(
            name="fileio",
            source="fileio.c",
            description=(
                "mkdir/open/openat/write/read/pread64/lseek/fstat/stat/rename/getdents64/"
                "unlink/rmdir round trip of N 4 KiB chunks under the cwd (default 64)"
            ),
            default_args=("64",),
        ),
        Workload(
            name="metadata",
            source="metadata.c",
            description=(
                "MOSBENCH-style metadata loop in DIR/dir1/dir2 (default /tmp/shared, mkdir -p): "
                "N times (default 2000) create/write 64 B/close/open/read/stat/unlink a "
                "per-pid file; marks each iteration on /dev/coffer/ops when it exists"
            ),
            default_args=("/tmp/shared", "2000"),
            libcs=(GLIBC, MUSL),
        ),
        Workload(
            name="memtouch",
            source="memtouch.c",
            description="malloc and mmap M MiB (default 8), touch every page, munmap, brk growth",
            default_args=("8",),
        ),
        Workload(
            name="exitcode",
            source="exitcode.c",
            description="exits with the status given as argv[1] (default 3)",
            default_args=("3",),
        ),
        Workload(
            name="segv",
            source="segv.c",
            description="writes through a NULL pointer; must die of SIGSEGV",
        ),
        Workload(
            name="threads",
            source="threads.c",
            description=(
                "N pthreads (default 4) bump a mutex-guarded counter, check __thread TLS and "
                "return join values; a condvar producer/consumer queue of M items (default "
                "1000): clone threads, futex, set_robust_list"
            ),
            default_args=("4", "1000"),
            libcs=(GLIBC, MUSL),
            libs=("-pthread",),
        ),
        Workload(
            name="forkexec",
            source="forkexec.c",
            description=(
                "fork + execve of /proc/self/exe through a pipe, wait4 statuses, kill/raise "
                "with SA_RESTART handlers, sigprocmask/sigpending, SIGCHLD, SIGPIPE/EPIPE, "
                "alarm interrupting pause (takes 1 s)"
            ),
            libcs=(GLIBC, MUSL),
        ),
        Workload(
            name="sqlite",
            source="sqlite.c",
            description=(
                "SQLite (static libsqlite3): create DB (default test.db in the cwd), insert N "
                "rows (default 2000) in a transaction, index, queries, delete, VACUUM; "
                "pread/pwrite, fcntl locks, fsync, journal files"
            ),
            default_args=("test.db", "2000"),
            libcs=(GLIBC,),
            libs=("-lsqlite3", "-lm", "-lpthread", "-ldl"),
        ),
        Workload(
            name="sqlquery",
            source="sqlquery.c",
            description=(
                "the data agents' query tool: run SQL on a database file (created if "
                "new) and print the rows '|'-separated, as `sqlite3 DB SQL` does"
            ),
            libcs=(GLIBC,),
            libs=("-lsqlite3", "-lm", "-lpthread", "-ldl"),
        ),
        Workload(
            name="tcpserver",
            source="tcpserver.c",
            description=(
                "TCP server on 0.0.0.0:PORT (default 7000): accepts one connection and "
                "echoes each line upper-cased until the client closes; pair with tcpclient"
            ),
            default_args=("7000",),
            libcs=(GLIBC,),
        ),
        Workload(
            name="tcpclient",
            source="tcpclient.c",
            description=(
                "TCP client of tcpserver (default 127.0.0.1 7000, 100 lines): connect retried "
                "on ECONNREFUSED, one line and one checked reply at a time"
            ),
            default_args=("127.0.0.1", "7000", "100"),
            libcs=(GLIBC,),
        ),
        Workload(
            name="agent",
            source="agent.c",
            description=(
                "a tool-using agent: asks modelserver over TCP and runs the tools it is "
                "told to (shell, read, write, patch, build, search, fetch) in its workspace"
            ),
            libcs=(GLIBC,),
        ),
        Workload(
            name="modelserver",
            source="modelserver.c",
            description=(
                "the agents' model server: replays a trace with a continuous-batching "
                "latency model, sleeping each engine step (see cofferos.sim.agents)"
            ),
            libcs=(GLIBC,),
        ),
        Workload(
            name="webserver",
            source="webserver.c",
            description=(
                "the browsing agents' web service: HTTP/1.0 GET of generated pages, one "
                "connection at a time, until CLIENTS have sent GET /quit"
            ),
            libcs=(GLIBC,),
        ),
        Workload(
            name="unixsock",
            source="unixsock.c",
            description=(
                "AF_UNIX between a parent and forked children: socketpair ping-pong, a "
                "path-named stream socket in the cwd, abstract-name datagrams (default 5 rounds)"
            ),
            default_args=("5",),
            libcs=(GLIBC,),
        ),
        Workload(
            name="pipeline",
            source="pipeline.c",
            description=(
                "poll over two pipes fed by forked children (default 5 lines each), eventfd, "
                "a 10 ms CLOCK_MONOTONIC timerfd read twice, epoll over a pipe and an eventfd"
            ),
            default_args=("5",),
            libcs=(GLIBC,),
        ),
        Workload(
            name="storm",
            source="storm.c",
            description=(
                "a noisy neighbour: storm [KIND [N [FILE]]] loops N times (default create 1000) "
                "over one kernel path: create (open/stat/unlink), fork, reap (wait4 polling), "
                "net (UDP loopback), pagecache (streaming pread of FILE), reread (re-reading a "
                "hot FILE), mount (tmpfs mount/umount2), memory (mmap/touch/munmap); failures "
                "are counted"
            ),
            default_args=("create", "1000"),
            libcs=(GLIBC,),
        ),
        Workload(
            name="hog",
            source="hog.c",
            description=(
                "resource exhaustion: hog fork|files|memory|disk [N [HOLD_MS]] takes children, "
                "descriptors, MiB mapped or MiB written until the kernel refuses or N, holds "
                "them HOLD_MS (default 200) and exits; no arguments: usage, exit 2"
            ),
            libcs=(GLIBC,),
        ),
        Workload(
            name="bystander",
            source="bystander.c",
            description=(
                "bystander [ROUNDS [GAP_MS [DELAY_MS]]]: each round forks a child, opens 8 "
                "descriptors, maps and touches 1 MiB, writes 64 KiB; exit 1 naming what failed"
            ),
            default_args=("5", "10", "0"),
            libcs=(GLIBC,),
        ),
        Workload(
            name="lmbench",
            source="lmbench.c",
            description=(
                "calibration micro-benchmarks timed with CLOCK_MONOTONIC: lmbench OP [N], OP one "
                "of null read mmap pagefault pipe ctx fork poll, or all (the default); prints "
                "'<op> <iterations> <ns per op>' (see cofferos.workloads.calibration)"
            ),
            libcs=(GLIBC, MUSL),
        ),
        Workload(
            name="observer",
            source="observer.c",
            description=(
                "isolation observer: after DELAY_US (default 2000) prints one 'LABEL VALUE' "
                "line per kernel observable (loadavg, meminfo, /proc/stat, sysinfo, fork pid) "
                "and the CLOCK_MONOTONIC ns of reading DATAFILE and of a stat loop"
            ),
            default_args=("/data/pages.bin", "2000", "200"),
            libcs=(GLIBC,),
        ),
        Workload(
            name="secret",
            source="secret.c",
            description=(
                "isolation sender: 'quiet' sleeps HOLD_US (default 5000); 'busy' maps 64 MiB, "
                "opens 32 files, reads DATAFILE, forks 6 sleepers and 2 stat() spinners"
            ),
            default_args=("quiet", "/data/pages.bin", "5000"),
            libcs=(GLIBC,),
        ),
        Workload(
            name="fuzz",
            source="fuzz.c",
            description=(
                "a hostile guest, no libc: fuzz CALLS SEED [BATCH] forks children that make "
                "seeded random system calls with bad pointers, sizes, descriptors and nested "
                "structures; refuses to run outside a coffer; no arguments: usage, exit 2"
            ),
            libcs=(GLIBC,),
            freestanding=True,
            cflags=FREESTANDING_C_FLAGS,
        ),
        Workload(
            name="fxmark",
            source="fxmark.c",
            description=(
                "the FxMark file-system microbenchmarks (Min et al., ATC 2016): fxmark BENCH "
                "[WORKERS [N [ROOT]]] forks WORKERS processes (default 1) doing N operations "
                "(default 200) of BENCH (MRPL ... DWTL) under ROOT (default /tmp/fxmark); "
                "marks each on /dev/coffer/ops; no arguments: usage, exit 2"
            ),
            libcs=(GLIBC, MUSL),
        ),
        Workload(
            name="wis",
            source="wis.c",
            description=(
                "will-it-scale-style loops: wis TEST [WORKERS [N [ROOT]]] runs WORKERS "
                "processes (threads for mmap1; default 1) doing N (default 200) of getppid1, "
                "open1, open3, unlink2, mmap1, page_fault2 or context_switch1; marks each on "
                "/dev/coffer/ops; no arguments: usage, exit 2"
            ),
            libcs=(GLIBC, MUSL),
            libs=("-pthread",),
        ),
        Workload(
            name="mosbench",
            source="mosbench.c",
            description=(
                "MOSBENCH's Exim benchmark: mosbench exim [WORKERS [N [ROOT [FS]]]] runs "
                "WORKERS smtpbm-like clients (default 1), each sending N messages (default "
                "50) over TCP to 127.0.0.1, 10 a connection, to an Exim-like server: a "
                "receiving process per connection spools each message in one of 62 spool "
                "subdirectories (by its pid), forks its delivery and waits (spool files "
                "read, renamed and unlinked, a forked transport appending to the client's "
                "mailbox, a shared log); FS tmpfs (default: ROOT's file system) or "
                "tmpfs-separate (MOSBENCH's: spool, its input subdirectories, mail and log "
                "on tmpfs mounts of their own, in a private mount namespace; needs "
                "CAP_SYS_ADMIN); each client marks its messages on "
                "/dev/coffer/ops; no arguments: usage, exit 2"
            ),
            libcs=(GLIBC, MUSL),
        ),
        Workload(
            name="asmloop",
            source="asmloop.S",
            description=(
                f"no libc, no arguments: a {ASMLOOP_ITERATIONS}-iteration dec/jnz loop, "
                "then exit(0); exact instruction count"
            ),
            expected_instructions=(
                ASMLOOP_PROLOGUE + ASMLOOP_BODY * ASMLOOP_ITERATIONS + ASMLOOP_EPILOGUE
            ),
            freestanding=True,
        ),
    )
}


def list_workloads() -> list[Workload]:
    """All built-in workloads, in catalog order."""
    return list(WORKLOADS.values())
