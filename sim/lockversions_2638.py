"""Linux 2.6.38 and 2.6.39 as lock tables: RCU-walk without dcache_lock, and its absolute paths.

The kernel Kleen and Chen profiled Exim on (docs/calibration.md: 40 cores / 80 threads,
Linux 2.6.38, 52.8% of cycles in ``_raw_spin_lock``, dput 39.6%, dget 38.6%, RCU-walk
fallback 18.7%; fixing RCU path walk for absolute paths alone gave 1.97x). Each rule
names the Linux function it models; the tables are registered in
``sim/lockversions.py`` :data:`VERSIONS` (import them from there: this module imports
that one).

Linux 2.6.38 ("fs: dcache remove dcache_lock", Nick Piggin's vfs-scale series):

* no dcache_lock: dget is ``spin_lock(&dentry->d_lock); d_count++`` and dput
  ``spin_lock(&dentry->d_lock); d_count--`` (include/linux/dcache.h dget, fs/dcache.c
  dput), ticket spinlocks (lockref came in 3.12), one per dentry: the hot shared
  dentries (``/``, the spool...) are what contend (OBJECT scope).
* RCU-walk (fs/namei.c path_init_rcu, do_lookup's __d_lookup_rcu): a component is a
  d_seq read, free. A relative walk stays in it to its last component, then
  nameidata_drop_rcu_last takes the final dentry's d_lock (d_count++ under it, as
  __d_rcu_to_refcount) and the path_put after the call dputs it (``d_final_ref``).
* An absolute path's RCU-walk fails at its start (path_init_rcu left nd->seq unset for
  the root, so the first d_seq check fails; Andi Kleen's fix, "vfs: Fix absolute RCU
  path walk failures due to uninitialized seq number", sets it, 2.6.39): the walk's
  attempt to leave RCU-walk (nameidata_dentry_drop_rcu: ``spin_lock(&parent->d_lock)``,
  the root's, then the child's nested d_lock; its sequence check fails, so it returns
  -ECHILD) and do_path_lookup restarts it by reference (``walk_abs``: the fallback's
  d_lock on the root, charged to "nameidata_dentry_drop_rcu", and path_init's two
  path_gets of the root, set_root's get_fs_root and nd->path's, each a dget, with the
  two dputs of path_put(&nd->path) as the walk leaves the root and path_put(&nd->root)
  at its end). Every component is then a ref-walk step (``d_walk_abs``): __d_lookup's
  ``spin_lock(&dentry->d_lock); d_count++`` (dget's work, charged to "__d_lookup") and
  path_to_nameidata's dput of the step's dentry when the walk moves past it (its
  parent's, counted here with the child: the same dentries, one step later; the last
  one's by path_put after the call). Not modelled: the fallback's nested d_lock of the
  first component (one more d_lock a walk, not on ``/``).
* vfsmount_lock a brlock (lglock, fs/namespace.c): its readers take their own CPU's
  spinlock ("local"): RCU-walk's path_init_rcu (br_read_lock), ref-walk's lookup_mnt at
  a crossing; its writers take every CPU's ("global"). Readers contend only with a
  writer, so with no writer recorded the read side is free here (``rcu``); the writes
  recorded are mount and umount (namespace_sem, then br_write_lock, as one global
  ticket lock). Not modelled: mntput_no_expire's br_write_lock for a mount without a
  long-term count (the internal mounts, sockfs and pipefs: every socket's and pipe's
  last fput), which no traced class records; the profile's 4.1% "global" is likely it.
* mnt_count per-CPU ("fs: scale mntget/mntput", 2.6.38): mntget/mntput take nothing.
* files_lock an lglock since 2.6.36 ("fs: scale files_lock"): file_sb_list_add and
  file_sb_list_del take a per-CPU lock (free here, as vfsmount_lock's read side).
* d_alloc takes the parent's d_lock (adding to d_subdirs); d_instantiate the global
  dcache_inode_lock (2.6.38 and 2.6.39; the inode's i_lock from 3.0) and the dentry's
  d_lock; d_delete the dentry's d_lock and dcache_inode_lock; a negative dentry's
  last dput kills it under its parent's d_lock (dentry_kill). d_rehash's hash-bucket
  bit lock (per bucket) is not modelled.
* inode_lock, global, for new_inode and iput_final until 2.6.39 split it (Dave
  Chinner's inode scalability series: inode_sb_list_lock for the superblock lists, also
  global); rename_lock, i_mutex (spinning on a running owner), mmap_sem, the page
  allocator's and LRU's locks, futex buckets as 2.6.35; tmpfs's used_blocks a
  percpu_counter since 2.6.36 (its fbc->lock a ticket spinlock).

What was checked against source text (the reference corpora): unlazy_walk of 2.6.39-3.x
(fs/namei.c, 2.6.38's nameidata_dentry_drop_rcu renamed: the parent's d_lock, the
child's nested d_lock, __d_rcu_to_refcount) and include/linux/dcache.h's
__d_rcu_to_refcount (``d_count++`` under d_lock after a d_seq check). 2.6.38's own
fs/namei.c and Kleen's commit were not found there: the fallback above is written from
the commit's title and 2.6.38's path_init/do_path_lookup as recalled, not quoted.

Linux 2.6.39: the same, with the absolute walk fixed (its classes map as the relative
walk's: RCU-walk to the last component) and inode_sb_list_lock for inode_lock.
"""

from __future__ import annotations

from cofferos.coffers import locktrace as lt
from cofferos.sim.lockalgo import RCU, TICKET
from cofferos.sim.lockholds import (
    COUNTER_FOLD,
    COUNTER_SUM_PER_CPU,
    DENTRY_LINK,
    DENTRY_REF,
    FILE_LIST_HOLD,
    INODE_LIST,
    LAST_PUT,
    MOUNT_LOOKUP,
    RENAME_MOVE,
    SEQ_READ,
)
from cofferos.sim.lockversions import GLOBAL, LINUX_2_6_35, OBJECT, LockRule, Table

#: The functions the 2.6.38 rules charge dget's and dput's d_lock to (a walk's
#: __d_lookup does dget's work: spin_lock(&dentry->d_lock), d_count++).
DGET_DPUT = ("dget", "dput", "__d_lookup")
#: The function the failed RCU-walk of an absolute path charges its d_lock to.
FALLBACK = "nameidata_dentry_drop_rcu"

_DGET = LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, "dget")
_DPUT = LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, "dput")
_REF_STEP = (LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, "__d_lookup"), _DPUT)
_INODE_ALIAS = LockRule("dcache_inode_lock", TICKET, GLOBAL, DENTRY_LINK, "d_instantiate")
_D_ALLOC = LockRule("d_lock", TICKET, OBJECT, DENTRY_LINK, "d_alloc")

LINUX_2_6_38: Table = {
    **LINUX_2_6_35,
    #: (do_lookup's __d_lookup_rcu: a d_seq read)
    lt.D_WALK: (LockRule("d_seq", RCU, OBJECT, SEQ_READ, "__d_lookup_rcu", shared=True),),
    lt.D_WALK_ABS: _REF_STEP,
    #: ("..", a symlink: taken by reference, as a ref-walk step)
    lt.D_WALK_REF: _REF_STEP,
    lt.D_FINAL_REF: (LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, "nameidata_drop_rcu_last"),
                     _DPUT),
    #: (the ref-walk's own dget and dput of the last component: d_walk_abs's)
    lt.D_FINAL_REF_ABS: (),
    lt.WALK_ABS: (LockRule("d_lock", TICKET, OBJECT, DENTRY_REF, FALLBACK),
                  _DGET, _DGET, _DPUT, _DPUT),
    #: (path_init_rcu takes no reference on its start: the absolute walk's are walk_abs's)
    lt.WALK_START: (),
    lt.MNT_REF: (),
    lt.MNT_READ: (LockRule("vfsmount_lock", RCU, GLOBAL, SEQ_READ, "br_read_lock (path_init_rcu)",
                           shared=True),),
    lt.MNT_CROSS: (LockRule("vfsmount_lock", RCU, GLOBAL, MOUNT_LOOKUP,
                            "br_read_lock (lookup_mnt)", shared=True),),
    lt.FILE_LIST: (LockRule("files_lock", RCU, GLOBAL, FILE_LIST_HOLD,
                            "lg_local_lock (file_sb_list_add/del)", shared=True),),
    lt.D_ALLOC: (_D_ALLOC, _INODE_ALIAS, _INODE_ALIAS),
    lt.D_NEGATIVE: (_D_ALLOC, _INODE_ALIAS),
    lt.D_LAST_PUT: (LockRule("d_lock", TICKET, OBJECT, LAST_PUT, "dentry_kill"),),
    lt.D_DELETE: (LockRule("d_lock", TICKET, OBJECT, DENTRY_LINK, "d_delete"),
                  LockRule("dcache_inode_lock", TICKET, GLOBAL, DENTRY_LINK, "d_delete")),
    lt.RENAME: (LockRule("rename_lock", TICKET, GLOBAL, RENAME_MOVE, "d_move"),),
    lt.SHMEM_BLOCKS: (
        LockRule("used_blocks", TICKET, OBJECT, COUNTER_FOLD, "__percpu_counter_add",
                 percpu_batch=True),
        LockRule("used_blocks", TICKET, OBJECT, COUNTER_FOLD,
                 "__percpu_counter_compare (percpu_counter_sum)",
                 per_cpu=COUNTER_SUM_PER_CPU, near_limit=True)),
}

LINUX_2_6_39: Table = {
    **LINUX_2_6_38,
    lt.D_WALK_ABS: LINUX_2_6_38[lt.D_WALK],
    lt.D_FINAL_REF_ABS: LINUX_2_6_38[lt.D_FINAL_REF],
    lt.WALK_ABS: (),
    lt.SB_INODES: (LockRule("inode_sb_list_lock", TICKET, GLOBAL, INODE_LIST,
                            "inode_sb_list_add"),),
}


def with_walk_modes(table: Table) -> Table:
    """``table`` with the absolute walk's classes it does not set mapped as the relative
    walk's (d_walk_abs as d_walk, d_final_ref_abs as d_final_ref, walk_abs to nothing):
    only a version whose RCU-walk of absolute paths fails (2.6.38) sets them."""
    return {lt.D_WALK_ABS: table.get(lt.D_WALK, ()),
            lt.D_FINAL_REF_ABS: table.get(lt.D_FINAL_REF, ()), lt.WALK_ABS: (), **table}
