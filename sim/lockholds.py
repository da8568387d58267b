"""The hold times, in cycles, that the kernel version tables give their locks.

Each constant is the work done under one lock (or one atomic) on one path, with the
Linux source it was read from; E marks an a-priori estimate (a few hundred cycles of
work under each lock, as in docs/calibration.md), never a figure fitted to a
published result the validation judges (docs/timing.md, "Held out"). The
tables that use them are in ``sim/lockversions.py``; ``--cost lock.NAME=CYCLES``
overrides a lock's hold by name.
"""

from __future__ import annotations

# Hold times in cycles (E: a few hundred cycles of work under each lock).
SEQ_READ = 20  #: a sequence-count read and check (read_seqcount_begin/retry)
DENTRY_REF = 120  #: d_lock + d_count, or a lockref cmpxchg, on one path component
ATOMIC_REF = 40  #: one atomic increment or decrement on a line already held
MOUNT_LOOKUP = 100  #: vfsmount_lock around lookup_mnt
#: E: mount_lock's write side around attach_recursive_mnt / umount_tree: hashing or
#: unhashing one mount and its mountpoint, a few list and hash updates plus the seqlock
#: writes, ~0.5 us, an order above a lookup's read side.
MOUNT_WRITE = 1_500
#: E: the rest of a mount or umount under namespace_sem (lock_mount, the new mount's
#: allocation and checks), outside mount_lock.
NAMESPACE_SEM = 500
DIR_CHANGE = 400  #: a name added or removed under the parent's i_rwsem / i_mutex
DIR_READ = 200  #: iterate_dir's share of a readdir
DENTRY_LINK = 150  #: d_alloc/d_instantiate or d_delete under d_lock or dcache_lock
INODE_LIST = 200  #: adding or removing an inode on the sb list (or inode_lock's lists)
RENAME_MOVE = 300  #: d_move under rename_lock
TASKLIST = 1_500  #: write_lock_irq(&tasklist_lock) in fork and exit
TASKLIST_SCAN = 300  #: do_wait's scan of the children under read_lock
MMAP_CHANGE = 250  #: a VMA inserted or removed under mmap_lock
FUTEX_BUCKET = 150  #: the futex hash bucket lock
SOCK_LOCK = 300  #: a socket's send or receive under lock_sock
PIPE_LOCK = 200  #: a pipe buffer read or written under the pipe mutex
#: E: 2.6.35's dput of a dentry's last reference under dcache_lock: d_lock taken, the count
#: checked, the dentry added to its superblock's LRU list (dentry_lru_add), both unlocked.
LAST_PUT = 100
#: E: a lookup of an absent name under the directory's lock: a dentry allocated and
#: added to the parent, then hashed negative (d_alloc, simple_lookup's d_add)
LOOKUP_SLOW = 2 * DENTRY_LINK
#: E: an open file linked into or out of its superblock's s_files list under files_lock
FILE_LIST_HOLD = 100
#: E: the last component's reference on leaving RCU-walk and its release after the call:
#: two lockref cmpxchgs on the dentry's line (lockref_get_not_dead, lockref_put_return).
FINAL_REF = 2 * ATOMIC_REF
#: E: a 4 KiB block copied into the page cache under the inode lock (~10 bytes a cycle,
#: as copy_cycles_per_kib) plus the page lookup and size update.
FILE_WRITE = 600
#: E: a page-cache page's reference taken and dropped for a read (get_page, put_page;
#: shmem_getpage's trylock_page and unlock_page on tmpfs before 4.x's read path): atomics.
PAGE_REF = 2 * ATOMIC_REF

# -- the page-fault path (page_fault2): amortized over per-CPU batches -------------------
#: E: one page moved between the buddy lists and a per-CPU list under zone->lock
#: (__rmqueue_smallest and expand in rmqueue_bulk; __free_one_page's buddy merging in
#: free_pcppages_bulk): a few list updates on the page's struct page line.
ZONE_PAGE = 100
#: pcp->batch (mm/page_alloc.c zone_batchsize): a zone's pages / 1024, capped, / 4, then
#: rounddown_pow_of_two(b + b / 2) - 1. The cap was 512 KiB (128 pages: batch 31) through
#: the 4.x kernels and is 1 MiB (256 pages: batch 63) in 5.16's and later 6.x's source.
PCP_BATCH_OLD = 31
PCP_BATCH_6 = 63
#: E: one folio added to or removed from an LRU list under the LRU lock (lruvec_add_folio
#: / lruvec_del_folio and the list statistics).
LRU_PAGE = 50
#: PAGEVEC_SIZE (include/linux/pagevec.h): the per-CPU LRU-add batch drained under the LRU
#: lock (__pagevec_lru_add, folio_batch_move_lru): 14 in 2.6.35 and 4.2, 15 from 4.15
#: (31 in later 6.x kernels; the LKP_PAGE_FAULT2 report's 6.7-rc kernel had 15).
PAGEVEC_OLD = 14
PAGEVEC_6 = 15
#: SWAP_CLUSTER_MAX (include/linux/swap.h): release_pages drops and retakes the LRU lock
#: every 32 pages it takes off the LRU (its lock_batch), when a mapping's pages are freed.
SWAP_CLUSTER_MAX = 32

# -- the memory cgroup's page counter (written before any run that measures it) ---------
#: E: one page_counter update of the cgroup's usage: page_counter_try_charge's or
#: page_counter_uncharge's atomic_long_add_return / sub_return on the counter's line
#: (mm/page_counter.c, 3.19+; one level of the hierarchy: the container's own cgroup).
PAGE_COUNTER = ATOMIC_REF
#: CHARGE_BATCH (mm/memcontrol.c, 4.2: "#define CHARGE_BATCH 32U"): try_charge takes
#: pages from a per-CPU stock (consume_stock) and charges the shared counter for a batch
#: at a time (refill_stock); MEMCG_CHARGE_BATCH, 64 since 6.1 ("mm: memcg: increase
#: MEMCG_CHARGE_BATCH to 64", Shakeel Butt, 2022). An uncharge has no stock:
#: release_pages' mem_cgroup_uncharge_list ends in uncharge_batch's page_counter_uncharge
#: once per call, and a one-page truncate (shmem_undo_range's pagevec_release) is a call.
CHARGE_BATCH_OLD = 32
CHARGE_BATCH_6 = 64

# -- a tmpfs's used-blocks counter (written from mm/shmem.c and lib/percpu_counter.c before
# any run that measures it) ----------------------------------------------------------------
#: percpu_counter_batch (lib/percpu_counter.c compute_batch_value): max(32, 2 x online
#: CPUs): a CPU folds its count into the shared one under fbc->lock every batch, and
#: __percpu_counter_compare sums every CPU's count, under the same lock, when the shared
#: count is within batch x online CPUs of the limit. (FxMark hot-plugs the CPUs a run
#: does not use, bin/set-cpus, so online CPUs are the run's cores; here, the machine's.)
PERCPU_BATCH_MIN = 32
PERCPU_BATCH_PER_CPU = 2
#: E: one fold (__percpu_counter_add's fbc->count += count) or the compare after a sum:
#: an add on the counter's line, as an atomic.
COUNTER_FOLD = ATOMIC_REF
#: E: percpu_counter_sum reading one online CPU's count under fbc->lock: a line its CPU
#: keeps writing (every page it adds), so a modified line from another core's cache,
#: about 40 ns in one socket (Intel's Memory Latency Checker, sim/topology.py) at 3 GHz.
COUNTER_SUM_PER_CPU = 120
#: E: 2.6.35's shmem_getpage under sbinfo->stat_lock: free_blocks checked and decremented,
#: i_blocks raised (a few adds on the superblock's line).
STAT_LOCK = 60
