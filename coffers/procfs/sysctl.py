"""/proc/sys: the sysctls a coffer has, read-only, each from the constant that enforces it.

Every value is read from the named constant (or the object) that the code enforcing
the limit uses, never restated here, so what a program reads is what the
simulated kernel does:

==========================  =====================================================
kernel/hostname, domainname  the reader's UTS names (:mod:`..syscalls.nsproxy`)
kernel/osrelease, ostype,    the one release string uname(2) and /proc/version use
version
kernel/pid_max               :data:`cofferos.coffers.coffer.PID_MAX`, where PIDs wrap
kernel/threads-max           the kernel domain's task limit, or Linux's boot value
                             (:meth:`KernelDomain.max_threads
                             <cofferos.coffers.domain.KernelDomain.max_threads>`)
kernel/ngroups_max           NGROUPS_MAX (:mod:`..syscalls.cred`'s setgroups limit)
kernel/tainted               0, or TAINT_DIE once the coffer's kernel has oopsed
kernel/shmmax, shmall,       System V shared memory's limits (ipc/shm.c defaults),
shmmni                       named below for the code that implements shmget
kernel/random/boot_id        a UUID fixed for the coffer's life, from its seed
kernel/random/uuid           a new random UUID at each read, from the coffer's stream
fs/file-max                  no system-wide limit: LONG_MAX, as systemd sets it
fs/nr_open                   :data:`cofferos.coffers.files.NR_OPEN` (setrlimit's bound)
fs/pipe-max-size             :data:`cofferos.coffers.pipe.PIPE_MAX_SIZE` (F_SETPIPE_SZ)
fs/mqueue/*                  the reader's IPC namespace's message queue limits, writable
                             by its user namespace's root (:mod:`.mqueue_sysctl`)
vm/max_map_count             :data:`cofferos.coffers.mm.MAX_MAP_COUNT`
vm/overcommit_memory         2 (never): a mapping past the memory limit is ENOMEM
net/core/somaxconn           :data:`cofferos.coffers.net.stream.SOMAXCONN` (listen)
user/max_user_namespaces     15000: user namespaces (:mod:`...userns`)
==========================  =====================================================

The files but fs/mqueue's are read-only (mode 0444, and a write is refused as every /proc file's is,
see :mod:`cofferos.coffers.fs.synthetic`): a coffer's kernel parameters are its
configuration, which a run does not change. Linux lets its root write most of them.
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

from cofferos.coffers.coffer import PID_MAX
from cofferos.coffers.files import NR_OPEN
from cofferos.coffers.mm import MAX_MAP_COUNT
from cofferos.coffers.net.stream import SOMAXCONN
from cofferos.coffers.pipe import PIPE_MAX_SIZE
from cofferos.coffers.procfs import taskinfo
from cofferos.coffers.procfs.mqueue_sysctl import mqueue_dir
from cofferos.coffers.syscalls.cred import NGROUPS_MAX
from cofferos.coffers.syscalls.nsproxy import MAX_USER_NAMESPACES, UtsNamespace, uts_of
from cofferos.coffers.syscalls.process import (
    UTS_DOMAINNAME,
    UTS_RELEASE,
    UTS_SYSNAME,
    UTS_VERSION,
)

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.fs import Inode
    from cofferos.coffers.procfs.tree import ProcFs

OVERCOMMIT_NEVER = 2
"""vm.overcommit_memory: a coffer refuses any mapping past its memory limit."""
FILES_MAX_UNLIMITED = (1 << 63) - 1
"""fs.file-max: the coffer counts open files per process only (RLIMIT_NOFILE), so the
system-wide bound is LONG_MAX, what systemd sets on Linux hosts."""
TAINT_DIE = 1 << 7
"""kernel.tainted's 'D' bit: the kernel has oopsed (include/linux/panic.h TAINT_DIE)."""
# System V shared memory limits (include/uapi/linux/shm.h): the defaults since Linux 3.16.
SHMMNI = 4096
"""kernel.shmmni: the most shared memory segments."""
SHMMAX = (1 << 64) - 1 - (1 << 24)
"""kernel.shmmax: the largest segment, in bytes (ULONG_MAX - 2**24)."""
SHMALL = (1 << 64) - 1 - (1 << 24)
"""kernel.shmall: all segments together, in pages."""


def tainted(coffer: Coffer) -> int:
    """0 for a clean kernel; TAINT_DIE after an oops (a kernel error the coffer survived)."""
    return TAINT_DIE if coffer.stats.oopses else 0


def boot_id(coffer: Coffer) -> str:
    """The coffer's boot id: a version-4 UUID drawn from a generator of its own, seeded
    with the coffer's seed and name, so it is fixed for a run, the same in a repeated
    run, and different for two coffers of one run (two boots)."""
    draw = random.Random(f"boot_id:{coffer.config.seed}:{coffer.config.name}")
    return str(uuid.UUID(bytes=draw.randbytes(16), version=4))


def random_uuid(coffer: Coffer) -> str:
    """A fresh version-4 UUID from the coffer's seeded stream (generate_random_uuid)."""
    return str(uuid.UUID(bytes=coffer.random_bytes(16), version=4))


def tree(procfs: ProcFs) -> Inode:
    """/proc/sys and its subdirectories; see the module docstring."""
    coffer = procfs.coffer

    def value(produce: object) -> Inode:
        return procfs.text(lambda: f"{produce() if callable(produce) else produce}\n")

    random_dir = procfs.fixed_directory([
        ("boot_id", value(lambda: boot_id(coffer))),
        ("uuid", value(lambda: random_uuid(coffer))),
    ])
    kernel = procfs.fixed_directory([
        ("domainname", value(lambda: _uts(coffer).domainname)),
        ("hostname", value(lambda: _uts(coffer).hostname)),
        ("ngroups_max", value(NGROUPS_MAX)),
        ("osrelease", value(UTS_RELEASE)),
        ("ostype", value(UTS_SYSNAME)),
        ("pid_max", value(PID_MAX)),
        ("random", random_dir),
        ("shmall", value(SHMALL)),
        ("shmmax", value(SHMMAX)),
        ("shmmni", value(SHMMNI)),
        ("tainted", value(lambda: tainted(coffer))),
        ("threads-max", value(lambda: coffer.domain.max_threads(coffer))),
        ("version", value(UTS_VERSION)),
    ])
    fs = procfs.fixed_directory([
        ("file-max", value(FILES_MAX_UNLIMITED)),
        ("nr_open", value(NR_OPEN)),
        ("mqueue", mqueue_dir(procfs)),
        ("pipe-max-size", value(PIPE_MAX_SIZE)),
    ])
    vm = procfs.fixed_directory([
        ("max_map_count", value(MAX_MAP_COUNT)),
        ("overcommit_memory", value(OVERCOMMIT_NEVER)),
    ])
    core = procfs.fixed_directory([("somaxconn", value(SOMAXCONN))])
    net = procfs.fixed_directory([("core", core)])
    user = procfs.fixed_directory([("max_user_namespaces", value(MAX_USER_NAMESPACES))])
    return procfs.fixed_directory([("fs", fs), ("kernel", kernel), ("net", net),
                                   ("user", user), ("vm", vm)])


def _uts(coffer: Coffer) -> UtsNamespace:
    """The reader's UTS names (its namespace's), or the coffer's own for the kernel."""
    task = taskinfo.current(coffer)
    if task is None:
        return UtsNamespace(coffer.config.hostname, UTS_DOMAINNAME)
    return uts_of(task)
