"""Kernel versions as data: which lock each traced step takes, its algorithm and cost.

The functional kernel records *what* a call touches (``coffers/locktrace.py``:
a class such as ``dir_excl`` and the object, e.g. the parent directory). A
version table maps each class to the locks that Linux version takes for it:
a :class:`LockRule` names the lock, its algorithm (``sim/lockalgo.py``), whether
it is taken shared, whether it lives on the recorded object or is one for the
whole kernel, its hold time in cycles, and the Linux source it models. Adding a
version is adding a table to :data:`VERSIONS`; no machine code changes.

Hold times are estimates (E: a few hundred cycles of work under each lock, as in
docs/calibration.md), kept in ``sim/lockholds.py``; ``--cost lock.NAME=CYCLES``
overrides a lock by name in every version, ``--cost lock.handoff=CYCLES`` the
cache-line transfer.

Current Linux (6.x) -- the default:

=================  ===================  ==========  ======  ================================
class              lock                 algorithm   scope   Linux source
=================  ===================  ==========  ======  ================================
d_walk             d_seq                rcu         object  fs/namei.c lookup_fast (RCU-walk)
d_walk_ref         d_lockref            atomic      object  fs/namei.c step_into, lib/lockref.c
d_final_ref        d_lockref            atomic      object  fs/namei.c complete_walk, path_put
mnt_read           mount_lock (read)    rcu         global  fs/namei.c path_init (m_seq)
mnt_cross          mount_lock (read)    rcu         global  fs/namei.c __follow_mount_rcu
mnt_write          namespace_sem        rwsem_spin  global  fs/namespace.c namespace_lock
mnt_write          mount_lock (write)   qspinlock   global  fs/namespace.c lock_mount_hash
dir_excl           i_rwsem              rwsem_spin  object  fs/namei.c filename_create, lock_rename
dir_shared         i_rwsem (shared)     rwsem_spin  object  fs/readdir.c iterate_dir (>= 4.7)
d_alloc            d_lock (parent)      qspinlock   object  fs/dcache.c d_alloc, d_instantiate
d_delete           d_lock (parent)      qspinlock   object  fs/dcache.c d_delete, __dentry_kill
sb_inodes          s_inode_list_lock    qspinlock   object  fs/inode.c inode_sb_list_add (>= 4.4)
rename             rename_lock (write)  qspinlock   global  fs/dcache.c d_move
tasklist_write     tasklist_lock        rwlock      global  kernel/fork.c copy_process
tasklist_read      tasklist_lock        rwlock      global  kernel/exit.c do_wait
mmap_write         mmap_lock            rwsem_spin  object  mm/mmap.c vm_mmap_pgoff, __vm_munmap
futex_bucket       hb->lock             qspinlock   object  kernel/futex/core.c futex_q_lock
sock               sk_lock              mutex       object  net/core/sock.c lock_sock_nested
pipe               pipe->mutex          mutex_spin  object  fs/pipe.c pipe_read, pipe_write
file_write         i_rwsem              rwsem_spin  object  mm/shmem.c shmem_file_write_iter
page_ref           page refcount        atomic      object  mm/filemap.c find_get_page, put_page
page_alloc         zone->lock           qspinlock   global  mm/page_alloc.c rmqueue_bulk (*)
lru_add            lruvec->lru_lock     qspinlock   object  mm/swap.c folio_batch_move_lru (*)
d_last_put         -                    -           -       fs/dcache.c dput (lockref: none)
dir_lookup         i_rwsem (shared)     rwsem_spin  object  fs/namei.c lookup_slow
d_negative         d_lock (parent)      qspinlock   object  fs/dcache.c d_alloc
d_negative         d_lock (parent)      qspinlock   object  fs/dcache.c __dentry_kill
page_charge        memcg page_counter   atomic      object  mm/memcontrol.c try_charge (*)
page_uncharge      memcg page_counter   atomic      object  mm/memcontrol.c uncharge_batch
shmem_blocks       used_blocks          qspinlock   object  lib/percpu_counter.c (**)
walk_start         -                    -           -       fs/namei.c path_init (RCU: none)
mnt_ref            -                    -           -       fs/namespace.c (per-CPU counts)
file_list          -                    -           -       (no open-file list since 3.13)
=================  ===================  ==========  ======  ================================

(*) once per per-CPU batch on a core (``LockRule.every``): zone->lock to refill the
per-CPU page list (pcp->batch pages) and to free a batch back (free_pcppages_bulk); the
LRU lock to drain a pagevec of new pages and, in release_pages, every SWAP_CLUSTER_MAX
pages freed. The LRU lock is per memory cgroup (each container is one) since 5.11.
The memory cgroup's page counter (``page_counter``, one per cgroup: each container is
one) is charged once per per-CPU stock of MEMCG_CHARGE_BATCH pages, for a page fault's
page or a page a write adds to a file, and uncharged for each page a truncate frees (an
uncharge has no per-CPU stock). Not recorded: the page allocator's and the LRU's locks
for a file's pages (on the FxMark paper's 8-node machine they are per node, and the
machine here is one node), the uncharge of pages freed at munmap or unlink.

(**) a tmpfs's used-blocks percpu_counter: folded every percpu_counter_batch pages a core
adds, and summed over every CPU for each page once within batch x CPUs of the limit.

``mutex_spin`` and ``rwsem_spin`` are the sleeping locks with optimistic spinning (their
waiters spin while a running owner holds them, ``sim/lockalgo.py``); lock_sock has none
and stays ``mutex``.

Linux 4.2 (the FxMark paper's kernel, Min et al., ATC 2016): as 6.x (RCU-walk, lockref,
queued spinlocks, spinning mutexes and rwsems; path_init's read_seqbegin(&mount_lock),
and at a crossing __follow_mount_rcu's __lookup_mnt, an RCU hash lookup checked
against that sequence, and follow_dotdot_rcu's follow_up_rcu for "..") but i_mutex, a
mutex, for directories, readdir (iterate_dir took it exclusive until 4.7) and file
writes; and the global
inode_sb_list_lock for every inode added to or removed from a superblock (per-superblock
s_inode_list_lock came in 4.4). Its tmpfs counts used blocks as 6.x does.

Linux 2.6.35 (MOSBENCH, Boyd-Wickizer et al., OSDI 2010: ticket spinlocks, no RCU-walk,
the global dcache_lock): ``sim/lockversions_2635.py``.

Linux 2.6.38 and 2.6.39 (Kleen and Chen's Exim profile, and Kleen's fix of its absolute
paths' RCU-walk): ``sim/lockversions_2638.py``.

Linux 6.x with CNA (``linux:6.x+cna``): the 6.x table with every queued spinlock's slow
path replaced by CNA (``sim/lockalgo.py``), as Alex Kogan's series "Add NUMA-awareness
to qspinlock" does for every spinlock (the kernel test robot measured its v6 on a
5.4 release candidate; the series was never merged). Only the algorithm changes; its
gain needs more than one socket (``--cost lock.sockets=N``, ``sim/topology.py``).
The mutexes' and rw-semaphores' optimistic spinning queues on the osq (osq_lock.c),
which the series leaves alone, so they keep their algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cofferos.coffers import locktrace as lt
from cofferos.errors import ConfigError
from cofferos.sim.lockalgo import (
    ATOMIC,
    CNA,
    MUTEX,
    MUTEX_SPIN,
    QSPINLOCK,
    RCU,
    RWLOCK,
    RWSEM_SPIN,
)
from cofferos.sim.lockholds import (  # noqa: F401 (also read from here)
    ATOMIC_REF,
    CHARGE_BATCH_6,
    CHARGE_BATCH_OLD,
    COUNTER_FOLD,
    COUNTER_SUM_PER_CPU,
    DENTRY_LINK,
    DENTRY_REF,
    DIR_CHANGE,
    DIR_READ,
    FILE_LIST_HOLD,
    FILE_WRITE,
    FINAL_REF,
    FUTEX_BUCKET,
    INODE_LIST,
    LAST_PUT,
    LOOKUP_SLOW,
    LRU_PAGE,
    MMAP_CHANGE,
    MOUNT_LOOKUP,
    MOUNT_WRITE,
    NAMESPACE_SEM,
    PAGE_COUNTER,
    PAGE_REF,
    PAGEVEC_6,
    PAGEVEC_OLD,
    PCP_BATCH_6,
    PCP_BATCH_OLD,
    PERCPU_BATCH_MIN,
    PERCPU_BATCH_PER_CPU,
    PIPE_LOCK,
    RENAME_MOVE,
    SEQ_READ,
    SOCK_LOCK,
    STAT_LOCK,
    SWAP_CLUSTER_MAX,
    TASKLIST,
    TASKLIST_SCAN,
    ZONE_PAGE,
)

GLOBAL = "global"  #: one lock for the whole kernel (per container elsewhere than linux)
OBJECT = "object"  #: the lock of the recorded object (a dentry, an inode, a socket...)


@dataclass(frozen=True)
class LockRule:
    """One lock taken for a traced class. Each field: meaning."""

    name: str
    """The lock's name (also its ``--cost lock.NAME`` key); rules of one name on one
    object are the same lock (e.g. i_rwsem exclusive for create, shared for readdir)."""
    algorithm: str
    """A key of cofferos.sim.lockalgo.ALGORITHMS."""
    scope: str
    """GLOBAL or OBJECT."""
    hold: int
    """Cycles of work under the lock."""
    source: str
    """The Linux function it models."""
    shared: bool = False
    """Taken as a reader."""
    every: int = 1
    """Taken once every this many records of its class on one core (a per-CPU batch
    refilled, drained or freed under the lock, as the page allocator's and the LRU's);
    1: for every record."""
    percpu_batch: bool = False
    """Taken once every percpu_counter_batch records on one core instead (a per-CPU count
    folded into a percpu_counter): the batch depends on the machine's cores
    (:func:`percpu_counter_batch`), so the lock table resolves it."""
    per_cpu: int = 0
    """Cycles added to the hold for each of the machine's cores (a loop over every online
    CPU under the lock, as percpu_counter_sum's)."""
    near_limit: bool = False
    """Taken only when the record's object has at most percpu_counter_batch x cores
    ``free_pages`` below its limit (__percpu_counter_compare's exact sum)."""


Table = dict[str, tuple[LockRule, ...]]


def percpu_counter_batch(cpus: int) -> int:
    """lib/percpu_counter.c's batch for ``cpus`` online CPUs."""
    return max(PERCPU_BATCH_MIN, PERCPU_BATCH_PER_CPU * cpus)


def fault_path(algorithm: str, batch: int, pagevec: int, lru_scope: str,
                lru_source: str) -> dict[str, tuple[LockRule, ...]]:
    """The page fault's locks: zone->lock once per pcp->batch pages allocated (refill,
    rmqueue_bulk) and once per batch freed (free_pcppages_bulk, when the per-CPU list
    passes pcp->high: in steady state every page faulted in is freed again, at munmap or
    exit, so the free side is counted at the fault too); the LRU lock once per pagevec
    of pages added and once per SWAP_CLUSTER_MAX freed (release_pages)."""
    hold, lru_add, lru_free = batch * ZONE_PAGE, pagevec * LRU_PAGE, SWAP_CLUSTER_MAX * LRU_PAGE
    return {
        lt.PAGE_ALLOC: (
            LockRule("zone_lock", algorithm, GLOBAL, hold, "rmqueue_bulk", every=batch),
            LockRule("zone_lock", algorithm, GLOBAL, hold, "free_pcppages_bulk", every=batch)),
        lt.LRU_ADD: (
            LockRule("lru_lock", algorithm, lru_scope, lru_add, lru_source, every=pagevec),
            LockRule("lru_lock", algorithm, lru_scope, lru_free, "release_pages",
                     every=SWAP_CLUSTER_MAX)),
    }


def _memcg(batch: int) -> dict[str, tuple[LockRule, ...]]:
    """The memory cgroup's page counter: charged once per per-CPU stock of ``batch`` pages
    (try_charge), uncharged for every page a truncate frees (uncharge_batch)."""
    return {
        lt.PAGE_CHARGE: (LockRule("page_counter", ATOMIC, OBJECT, PAGE_COUNTER,
                                  "try_charge (page_counter_try_charge)", every=batch),),
        lt.PAGE_UNCHARGE: (LockRule("page_counter", ATOMIC, OBJECT, PAGE_COUNTER,
                                    "uncharge_batch (page_counter_uncharge)"),),
    }


def _used_blocks(fold: str, compare: str) -> dict[str, tuple[LockRule, ...]]:
    """A tmpfs's used-blocks percpu_counter (one per superblock, a queued spinlock since
    4.2): a core's count folded in every percpu_counter_batch pages it adds (``fold``),
    and, near the limit, every page's exact sum of every online CPU's count (``compare``)."""
    return {lt.SHMEM_BLOCKS: (
        LockRule("used_blocks", QSPINLOCK, OBJECT, COUNTER_FOLD, fold, percpu_batch=True),
        LockRule("used_blocks", QSPINLOCK, OBJECT, COUNTER_FOLD, compare,
                 per_cpu=COUNTER_SUM_PER_CPU, near_limit=True))}


_MNT_WRITE_6 = (LockRule("namespace_sem", RWSEM_SPIN, GLOBAL, NAMESPACE_SEM, "namespace_lock"),
                LockRule("mount_lock", QSPINLOCK, GLOBAL, MOUNT_WRITE, "lock_mount_hash"))
LINUX_6: Table = {
    lt.D_WALK: (LockRule("d_seq", RCU, OBJECT, SEQ_READ, "lookup_fast", shared=True),),
    lt.D_WALK_REF: (LockRule("d_lockref", ATOMIC, OBJECT, DENTRY_REF, "lockref_get"),),
    lt.D_FINAL_REF: (LockRule("d_lockref", ATOMIC, OBJECT, FINAL_REF, "complete_walk"),),
    #: (path_init in RCU mode: nd->m_seq = read_seqbegin(&mount_lock), for every walk)
    lt.MNT_READ: (LockRule("mount_lock", RCU, GLOBAL, SEQ_READ, "path_init", shared=True),),
    #: (a crossing: __follow_mount_rcu's __lookup_mnt, an RCU hash lookup, then
    #: read_seqretry(&mount_lock, nd->m_seq); ".." by follow_dotdot_rcu: the same)
    lt.MNT_CROSS: (LockRule("mount_lock", RCU, GLOBAL, SEQ_READ, "__follow_mount_rcu",
                            shared=True),),
    lt.MNT_WRITE: _MNT_WRITE_6,
    lt.DIR_EXCL: (LockRule("i_rwsem", RWSEM_SPIN, OBJECT, DIR_CHANGE, "filename_create"),),
    lt.DIR_SHARED: (LockRule("i_rwsem", RWSEM_SPIN, OBJECT, DIR_READ, "iterate_dir", shared=True),),
    lt.D_ALLOC: (LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "d_alloc"),),
    lt.D_DELETE: (LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "d_delete"),),
    lt.SB_INODES: (LockRule("s_inode_list_lock", QSPINLOCK, OBJECT, INODE_LIST,
                            "inode_sb_list_add"),),
    lt.RENAME: (LockRule("rename_lock", QSPINLOCK, GLOBAL, RENAME_MOVE, "d_move"),),
    lt.TASKLIST_WRITE: (LockRule("tasklist_lock", RWLOCK, GLOBAL, TASKLIST, "copy_process"),),
    lt.TASKLIST_READ: (LockRule("tasklist_lock", RWLOCK, GLOBAL, TASKLIST_SCAN, "do_wait",
                                shared=True),),
    lt.MMAP_WRITE: (LockRule("mmap_lock", RWSEM_SPIN, OBJECT, MMAP_CHANGE, "vm_mmap_pgoff"),),
    lt.FUTEX_BUCKET: (LockRule("futex_hb", QSPINLOCK, OBJECT, FUTEX_BUCKET, "futex_q_lock"),),
    lt.SOCK: (LockRule("sk_lock", MUTEX, OBJECT, SOCK_LOCK, "lock_sock_nested"),),
    lt.PIPE: (LockRule("pipe_mutex", MUTEX_SPIN, OBJECT, PIPE_LOCK, "pipe_read/pipe_write"),),
    lt.FILE_WRITE: (LockRule("i_rwsem", RWSEM_SPIN, OBJECT, FILE_WRITE, "shmem_file_write_iter"),),
    lt.PAGE_REF: (LockRule("page_ref", ATOMIC, OBJECT, PAGE_REF, "find_get_page"),),
    #: (dput's fast path, lockref_put_return, takes no lock; d_final_ref has its cost)
    lt.D_LAST_PUT: (),
    #: (a negative dentry: lookup_slow's shared i_rwsem for a walk's lookup; d_alloc,
    #: through d_alloc_parallel in a walk, under the parent's d_lock; its last dput's
    #: __dentry_kill under the parent's d_lock)
    lt.DIR_LOOKUP: (LockRule("i_rwsem", RWSEM_SPIN, OBJECT, LOOKUP_SLOW, "lookup_slow",
                             shared=True),),
    lt.D_NEGATIVE: (LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "d_alloc"),
                    LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "__dentry_kill")),
    #: (RCU-walk's path_init takes no reference on the start; mount counts are per-CPU
    #: since 2.6.38's "fs: scale mntget/mntput"; s_files and files_lock went in 3.13)
    lt.WALK_START: (),
    lt.MNT_REF: (),
    lt.FILE_LIST: (),
    #: (the LRU lock is per memory cgroup and node since 5.11, lruvec->lru_lock: each
    #: container is its own cgroup, and the machine is one node)
    **fault_path(QSPINLOCK, PCP_BATCH_6, PAGEVEC_6, OBJECT, "folio_batch_move_lru"),
    **_memcg(CHARGE_BATCH_6),
    #: (shmem_inode_acct_blocks: percpu_counter_limited_add since 6.6, which folds and,
    #: near the limit, sums under fbc->lock as 4.2's compare and add do)
    **_used_blocks("percpu_counter_limited_add", "percpu_counter_limited_add (sum)"),
}

_I_MUTEX_DIR = LockRule("i_mutex", MUTEX_SPIN, OBJECT, DIR_CHANGE, "lookup_create")
LINUX_4_2: Table = {
    **LINUX_6,
    lt.DIR_EXCL: (_I_MUTEX_DIR,),
    lt.DIR_SHARED: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, DIR_READ, "iterate_dir"),),
    #: (lookup_slow took i_mutex until 4.7's parallel lookups; d_alloc and dentry_kill
    #: take the parent's d_lock)
    lt.DIR_LOOKUP: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, LOOKUP_SLOW, "lookup_slow"),),
    lt.D_NEGATIVE: (LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "d_alloc"),
                    LockRule("d_lock", QSPINLOCK, OBJECT, DENTRY_LINK, "dentry_kill")),
    lt.SB_INODES: (LockRule("inode_sb_list_lock", QSPINLOCK, GLOBAL, INODE_LIST,
                            "inode_sb_list_add"),),
    lt.FILE_WRITE: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, FILE_WRITE, "shmem_file_write_iter"),),
    lt.MMAP_WRITE: (LockRule("mmap_sem", RWSEM_SPIN, OBJECT, MMAP_CHANGE, "vm_mmap_pgoff"),),
    #: (zone->lru_lock: one per zone until 4.8, so one for the whole machine)
    **fault_path(QSPINLOCK, PCP_BATCH_OLD, PAGEVEC_OLD, GLOBAL, "__pagevec_lru_add"),
    **_memcg(CHARGE_BATCH_OLD),
    **_used_blocks("__percpu_counter_add", "__percpu_counter_compare (percpu_counter_sum)"),
}

def with_cna(table: Table) -> Table:
    """``table`` with every queued spinlock (QSPINLOCK) turned into CNA."""
    return {cls: tuple(replace(rule, algorithm=CNA) if rule.algorithm == QSPINLOCK else rule
                       for rule in rules) for cls, rules in table.items()}


LINUX_6_CNA: Table = with_cna(LINUX_6)

#: (imported here, once the names they use are defined: import their tables from here;
#: 2.6.38's builds on 2.6.35's)
from cofferos.sim.lockversions_2635 import (  # noqa: E402, F401 (also read from here)
    DCACHE_LOCKS_CREATE,
    DCACHE_LOCKS_DELETE,
    LINUX_2_6_35,
)
from cofferos.sim.lockversions_2638 import (  # noqa: E402, F401 (also read from here)
    LINUX_2_6_38,
    LINUX_2_6_39,
    with_walk_modes,
)

DEFAULT_VERSION = "6.x"
#: Every version a ``KERNEL:VERSION`` may name.
VERSIONS: dict[str, Table] = {DEFAULT_VERSION: LINUX_6, "4.2": LINUX_4_2,
                              "2.6.35": LINUX_2_6_35, "6.x+cna": LINUX_6_CNA,
                              "2.6.38": LINUX_2_6_38, "2.6.39": LINUX_2_6_39}
#: Architectures whose kernel is a Linux of some version (a VM's guest kernel, the
#: shared host kernel); the others run their own kernel with the default table.
VERSIONED_ARCHITECTURES = ("linux", "vm")

#: Every lock name of every version, with its hold in the first version naming it
#: (the valid ``--cost lock.NAME`` keys).
LOCK_HOLDS: dict[str, int] = {}
for _table in VERSIONS.values():
    for _rules in _table.values():
        for _rule in _rules:
            LOCK_HOLDS.setdefault(_rule.name, _rule.hold)


def split_kernel(kernel: str) -> tuple[str, str]:
    """``"linux:2.6.35"`` -> ``("linux", "2.6.35")``; no suffix: the default version.

    ConfigError for an unknown version or a version on an architecture without any."""
    arch, sep, version = kernel.partition(":")
    if not sep:
        return arch, DEFAULT_VERSION
    if arch not in VERSIONED_ARCHITECTURES:
        raise ConfigError(f"kernel {arch!r} has no versions; a version suffix is for "
                          f"{', '.join(VERSIONED_ARCHITECTURES)}")
    if version not in VERSIONS:
        raise ConfigError(f"unknown {arch} version {version!r}; choose from "
                          f"{', '.join(VERSIONS)}")
    return arch, version
