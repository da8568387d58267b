"""Linux 2.6.35 as a lock table: the MOSBENCH-era kernel (``--kernel linux:2.6.35``).

Linux 2.6.35 (MOSBENCH, Boyd-Wickizer et al., OSDI 2010): ticket spinlocks, no RCU-walk
(every component takes the dentry's d_lock and an atomic d_count reference in
__d_lookup), the global dcache_lock (taken four times to create a name on tmpfs: d_alloc, and
d_instantiate and d_rehash in simple_lookup's d_add, d_instantiate in shmem_mknod;
twice to remove one: d_delete, and d_kill in the last dput; once more in d_move; and
once in dput whenever a reference count drops to zero, atomic_dec_and_lock(&d_count,
&dcache_lock)). Its tmpfs, as 6.x's, pins a name's dentry while the name exists
(shmem_mknod's extra dget, dropped in simple_unlink), so a walk's and a creator's dput
are never the last. A lookup of an absent name (``d_negative``: a walk's real_lookup
under the directory's i_mutex, ``dir_lookup``, or rename's lookup_hash of an absent
target; d_alloc, and simple_lookup's d_add, d_instantiate and d_rehash, each under
dcache_lock) makes a negative dentry whose d_op (simple_delete_dentry)
unhashes and kills it at the lookup's own dput, its last (dcache_lock again): tmpfs
caches no negative dentries, in 2.6.35 or 6.x (always_delete_dentry; 6.x kills it under
the parent's d_lock). Also the global inode_lock (new_inode, iput_final), i_mutex for
directories and readdir (vfs_readdir), mmap_sem, lock_sock. Its vfsmount_lock is a
global ticket spinlock that a walk takes only where it crosses a mount point
(``mnt_cross``): do_lookup's __follow_mount loops while d_mountpoint(dentry), each turn
lookup_mnt (spin_lock(&vfsmount_lock), __lookup_mnt,
mntget of the child mount: an atomic mnt_count), and ".." out of a mount's root goes
through follow_dotdot's follow_up (the same spinlock, mntget of the parent); path_init
takes none (``mnt_read``: nothing; it reads current->fs under fs->lock, a lock of the
process's own fs_struct, copied at fork, that no other process takes).
Every walk also takes a reference on its start directory and its mount (path_get: an
atomic d_count and mnt_count), and every open and close takes the global files_lock
(file_sb_list_add/del), a ticket spinlock. Its mutexes spin on a running owner (since
2.6.30); its rw-semaphores (mmap_sem, namespace_sem) do not (writers' optimistic
spinning came in 3.10): they stay ``rwsem``. Its page faults take the zone lock and the
zone's lru_lock (both ticket spinlocks, one each on a one-node machine) per batch, and
every page a tmpfs allocates takes its superblock's stat_lock (percpu counts came in 2.6.36).

The table is registered in ``sim/lockversions.py`` :data:`VERSIONS` (import it from
there: this module imports that one's rules and 6.x table, as ``sim/lockversions_2638.py``
does, which builds on this one).
"""

from __future__ import annotations

from cofferos.coffers import locktrace as lt
from cofferos.sim.lockalgo import ATOMIC, MUTEX_SPIN, RWSEM, TICKET
from cofferos.sim.lockholds import (
    ATOMIC_REF,
    DENTRY_LINK,
    DENTRY_REF,
    DIR_CHANGE,
    DIR_READ,
    FILE_LIST_HOLD,
    FILE_WRITE,
    FUTEX_BUCKET,
    INODE_LIST,
    LAST_PUT,
    LOOKUP_SLOW,
    MMAP_CHANGE,
    MOUNT_LOOKUP,
    MOUNT_WRITE,
    NAMESPACE_SEM,
    PAGEVEC_OLD,
    PCP_BATCH_OLD,
    PIPE_LOCK,
    RENAME_MOVE,
    STAT_LOCK,
)
from cofferos.sim.lockversions import GLOBAL, LINUX_6, OBJECT, LockRule, Table, fault_path

_REF_WALK_2635 = (LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, "__d_lookup"),
                  LockRule("d_count", ATOMIC, OBJECT, ATOMIC_REF, "dput"))


def _dcache_lock(caller: str) -> LockRule:
    """2.6.35's global dcache_lock as ``caller`` takes it (the function a profile that
    charges spinning to its caller names)."""
    return LockRule("dcache_lock", TICKET, GLOBAL, DENTRY_LINK, caller)


#: The dcache_lock acquisitions of a tmpfs create and of a removal in 2.6.35 (above):
#: d_alloc, then d_instantiate and d_rehash in simple_lookup's d_add, and shmem_mknod's
#: d_instantiate; d_delete, and d_kill in the last dput.
DCACHE_LOCKS_CREATE = tuple(_dcache_lock(caller) for caller in (
    "d_alloc", "d_instantiate", "d_rehash", "d_instantiate"))
DCACHE_LOCKS_DELETE = (_dcache_lock("d_delete"), _dcache_lock("dput"))
LINUX_2_6_35: Table = {
    lt.D_WALK: _REF_WALK_2635,
    lt.D_WALK_REF: _REF_WALK_2635,
    #: (the walk already took the last component's d_count; dput drops it, atomically)
    lt.D_FINAL_REF: (LockRule("d_count", ATOMIC, OBJECT, ATOMIC_REF, "dput"),),
    #: (atomic_dec_and_lock(&dentry->d_count, &dcache_lock): the decrement to zero takes
    #: dcache_lock, then d_lock, and puts the dentry on its superblock's LRU list)
    lt.D_LAST_PUT: (LockRule("dcache_lock", TICKET, GLOBAL, LAST_PUT, "dput"),),
    #: (path_init: fs->lock of the process's own fs_struct, shared with no other worker)
    lt.MNT_READ: (),
    #: (fs/namei.c __follow_mount -> fs/namespace.c lookup_mnt, or follow_dotdot ->
    #: follow_up: spin_lock(&vfsmount_lock) and mntget, once per mount crossed)
    lt.MNT_CROSS: (LockRule("vfsmount_lock", TICKET, GLOBAL, MOUNT_LOOKUP, "lookup_mnt"),
                   LockRule("mnt_count", ATOMIC, OBJECT, 2 * ATOMIC_REF, "mntget/mntput")),
    lt.MNT_WRITE: (LockRule("namespace_sem", RWSEM, GLOBAL, NAMESPACE_SEM, "do_add_mount"),
                   LockRule("vfsmount_lock", TICKET, GLOBAL, MOUNT_WRITE, "attach_mnt")),
    lt.DIR_EXCL: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, DIR_CHANGE, "lookup_create"),),
    lt.DIR_SHARED: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, DIR_READ, "vfs_readdir"),),
    lt.D_ALLOC: DCACHE_LOCKS_CREATE,
    #: (real_lookup under the directory's i_mutex, or rename's lookup_hash: d_alloc, then
    #: simple_lookup's d_add, d_instantiate(NULL) and d_rehash; the kill is the d_last_put
    #: recorded after it)
    lt.DIR_LOOKUP: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, LOOKUP_SLOW, "real_lookup"),),
    lt.D_NEGATIVE: DCACHE_LOCKS_CREATE[:3],
    lt.D_DELETE: DCACHE_LOCKS_DELETE,
    lt.SB_INODES: (LockRule("inode_lock", TICKET, GLOBAL, INODE_LIST, "new_inode/iput_final"),),
    lt.RENAME: (_dcache_lock("d_move"),
                LockRule("rename_lock", TICKET, GLOBAL, RENAME_MOVE, "d_move")),
    lt.TASKLIST_WRITE: LINUX_6[lt.TASKLIST_WRITE],
    lt.TASKLIST_READ: LINUX_6[lt.TASKLIST_READ],
    lt.MMAP_WRITE: (LockRule("mmap_sem", RWSEM, OBJECT, MMAP_CHANGE, "do_mmap_pgoff"),),
    lt.FUTEX_BUCKET: (LockRule("futex_hb", TICKET, OBJECT, FUTEX_BUCKET, "queue_lock"),),
    lt.SOCK: LINUX_6[lt.SOCK],
    lt.PIPE: (LockRule("pipe_mutex", MUTEX_SPIN, OBJECT, PIPE_LOCK, "pipe_read (i_mutex)"),),
    lt.FILE_WRITE: (LockRule("i_mutex", MUTEX_SPIN, OBJECT, FILE_WRITE, "generic_file_aio_write"),),
    lt.PAGE_REF: LINUX_6[lt.PAGE_REF],
    lt.WALK_START: (LockRule("d_count", ATOMIC, OBJECT, 2 * ATOMIC_REF, "path_get/path_put"),),
    lt.MNT_REF: (LockRule("mnt_count", ATOMIC, OBJECT, 2 * ATOMIC_REF, "mntget/mntput"),),
    lt.FILE_LIST: (LockRule("files_lock", TICKET, GLOBAL, FILE_LIST_HOLD,
                            "file_sb_list_add/file_sb_list_del"),),
    **fault_path(TICKET, PCP_BATCH_OLD, PAGEVEC_OLD, GLOBAL, "____pagevec_lru_add"),
    #: (not modeled: 2.6.35 charges a res_counter under its spinlock, batched per CPU,
    #: and batches a truncate's uncharges with mem_cgroup_uncharge_start/end)
    lt.PAGE_CHARGE: (),
    lt.PAGE_UNCHARGE: (),
    #: (the used-blocks percpu_counter came in 2.6.36, "tmpfs: make tmpfs scalable with
    #: percpu_counter for used blocks"; before it every page a limited tmpfs allocates
    #: takes the superblock's stat_lock to decrement free_blocks)
    lt.SHMEM_BLOCKS: (LockRule("stat_lock", TICKET, OBJECT, STAT_LOCK,
                               "shmem_getpage (sbinfo->stat_lock)"),),
}
