"""Published scalability results that ``coffersim validate`` judges the lock model against.

Each :class:`Published` entry is one workload's finding as its source states it:
whether it scales, the lock it names as the bottleneck (by the lock names of
``sim/lockversions.py``), the kernel version and core count it was measured on,
and the source. Only what a source says is written here; a workload whose
finding was not checked against its source has no entry and is reported as
"not judged" (:data:`UNJUDGED`).

Held-out set: no constant of the lock model (``sim/lockversions.py`` hold times,
``sim/kernel_locks.py`` hand-off, ``sim/costmodel.py``) was set from any of these
results: the hold times are a-priori estimates (E) written before the
validation workloads existed, and the call costs come from LEBench and lmbench
(docs/calibration.md). The memory cgroup's page counter (``page_counter``, added
for DWTL's finding) took ATOMIC_REF, the hold of every other atomic, and Linux's
CHARGE_BATCH, before its first run. So every entry below is held out; :data:`FITTED_ON`
is empty, and a test keeps it so unless a constant names its result.

Sources:

* FXMARK: Min, Kashyap, Maass, Kang and Kim, "Understanding Manycore Scalability of
  File Systems", USENIX ATC 2016, section 4 (tmpfs on Linux 4.2, 80 cores). The
  findings used: MRPH and DRBH do not scale (a reference count bounces on every
  operation: the dentry's lockref, the page's count); MWCM, MWUM, DWOM and MRDM do
  not scale (the directory's or the file's inode mutex serializes them; readdir
  took i_mutex exclusive until 4.7); MWRL does not scale (rename takes the global
  rename_lock); MRPL, DRBL and DWOL scale.
* FXMARK_NOTES: the paper's microbenchmark findings for the other eight benchmarks, as a
  reading note restates them (github.com/arkingc/research, paper/README.md at commit
  0b139dd0571d, in Chinese; its author also wrote a walk-through of FxMark's sources,
  arkingc.github.io/2018/12/08/2018-12-08-linux-benchmark-fxmark). It is a secondary
  source: the paper's own text and figures were not found in the reference corpora. What
  the note says, translated, by its section numbers:
  5.1.1 (fig. b, DRBM): "when several processes read private blocks of a shared file,
  XFS shows a scalability problem" (its rw-semaphore's reader count). tmpfs is not named,
  so DRBM is *not* entered: the note does not say that tmpfs scales.
  5.1.3 (DWAL, DWTL): "in tmpfs, checking the capacity limit is the bottleneck: as the
  used space nears the limit the check takes a slow path that compares the remaining
  space exactly; tracking the used space with per-CPU counters scales to 50 cores, and
  beyond that it cannot scale, because of spinlock contention after the slow path. When
  space is freed, updating the per-cgroup page usage with atomic operations becomes the
  bottleneck." (mm/shmem.c's used_blocks percpu_counter, the tables' ``used_blocks``:
  DWAL is judged as scaling up to 50 cores, ``scales_to``, and past them on that lock;
  its fill of FxMark's 32 GiB tmpfs at 80 cores is predicted by sim/validate_fill.py;
  and the memory cgroup's page counter, the tables' ``page_counter``, for DWTL.)
  5.2.1 (fig. b, MRPM): "resolving path names that are occasionally the same scales up
  to 10 cores"; the cause it gives for figs. b and c is the dentry's lockref.
  5.2.2 (fig. a, MRDL): "listing private directories, every file system but btrfs scales
  well".
  5.2.3 (figs. a and c, MWCL and MWUL): "no file system scales" at these; "in tmpfs,
  creating or deleting a file adds or removes the inode on the global inode list
  (sb->s_inodes), protected by a system-wide spinlock (inode_sb_list_lock), which becomes
  the bottleneck".
  5.2.4 (MWRL, MWRM): "rename is a system-wide serialized operation whatever the sharing
  level": a rename takes rename_lock for writing.
* The kernel test robot's will-it-scale reports, as issue #15 quotes them: open3 (one
  file opened and closed by every worker) from 224 threads gives about one core's
  worth of throughput; context_switch1 in process mode reaches 81-88% of linear at
  56-112 processes. These two reports were not located for this table, so their
  core counts and figures are the issue's. unlink2's 73.5% was located (LKP_UNLINK2).
* LKP_MMAP1: the kernel test robot, "[mm/gup] 57efa1fe59: will-it-scale.per_thread_ops
  -9.2% regression", linux-kernel, 25 May 2021, Message-ID
  <20210525031636.GB7744@xsang-OptiPlex-9020>: will-it-scale mmap1, thread mode, 48
  threads (nr_task 50%) on a 96-thread 2-socket Ice Lake, 7,127 operations per thread
  per second (342,141 in all) before the commit; its profile puts 71.7% of cycles in
  down_write_killable from vm_mmap_pgoff and 24.9% from __vm_munmap, nearly all of it
  in rwsem_optimistic_spin/osq_lock: the process's mmap_lock serializes the threads.
  The kernel is a 5.13 release candidate; 6.x takes the same lock for writing in
  vm_mmap_pgoff and __vm_munmap, so the finding is judged against the 6.x table.
* LKP_UNLINK2: the kernel test robot, "[locking/qspinlock] ad3836e30e:
  will-it-scale.per_thread_ops 73.5% improvement", linux-kernel, 19 Nov 2019,
  Message-ID <20191119144826.GA28989@xsang-OptiPlex-9020>: will-it-scale unlink2,
  thread mode, 96 threads (nr_task 50%) on a 192-thread 4-socket Xeon Platinum 9242,
  6,672 -> 11,574 operations per thread per second when the qspinlock slow path
  becomes CNA ("compact NUMA-aware" queued lock, Kogan and Dice, patch v6 3/5). The
  two algorithms are both queued; CNA hands the lock to a waiter on the holder's
  socket first. It is a gain between two kernels on one machine, not a curve's
  verdict, so it has no entry here: sim/validate_gain.py judges it (linux against
  linux:6.x+cna on ``--cost lock.sockets=4``). Before the change 60.6% of cycles were
  in native_queued_spin_lock_slowpath, from inode_sb_list_add (s_inode_list_lock),
  evict, SELinux's inode security lock and the file table's lock (__alloc_fd,
  __close_fd).
* LKP_PAGE_FAULT2: the kernel test robot's report of "a 12.6% improvement of
  will-it-scale.per_process_ops" from commit c0a242394cb9 ("mm, page_alloc: scale the
  number of pages that are batch allocated"), linux-kernel, 20 Nov 2023: page_fault2,
  process mode, 52 processes (nr_task 50%) of a 104-thread 2-socket Skylake, 165,231
  faults per process per second before the commit; perf: 10.1% of cycles in
  native_queued_spin_lock_slowpath on the zone lock from free_pcppages_bulk (pages
  freed in bulk at munmap), 6.3% from rmqueue_bulk (the zone lock refilling the per-CPU
  lists), 9.4% on the LRU lock (folio_lruvec_lock_irqsave in release_pages), 4.2% on
  the page-table lock. It names the bottleneck, the zone lock, and gives no figure at
  one process, so only the bottleneck is judged (BOTTLENECK_ONLY). The model's page
  fault locks (sim/lockversions.py ``_fault_path``) were written from the Linux
  sources and their holds estimated before this report was compared (held out).
* MOSBENCH_EXIM: the profile is Kleen and Chen's (Intel, 2011), as docs/calibration.md
  quotes it: Exim on 40 cores / 80 threads, Linux 2.6.38, 52.8% of cycles in
  ``_raw_spin_lock``, of which dput 39.6%, dget 38.6% and the RCU-walk fallback 18.7%;
  vfsmount_lock 11.1% local + 4.1% global; fixing RCU path walk for absolute paths
  alone gave 1.97x throughput (Andi Kleen's "vfs: Fix absolute RCU path walk failures
  due to uninitialized seq number", 2011; its text was not found in the reference
  corpora, so the figures are calibration.md's). So the finding is judged on 2.6.38
  (``sim/lockversions_2638.py``: no dcache_lock, dget and dput each the dentry's
  d_lock, an absolute path's RCU-walk falling back to ref-walk), its callers being the
  functions those rules charge dget's and dput's d_lock to (``DGET_DPUT``, not the
  fallback's), and its "about 2x" as the gain of 2.6.39 (the fix) over 2.6.38 at the
  largest worker count, by sim/validate_gain.py's rule (within a factor GAIN_FACTOR).
  The workload is MOSBENCH's (Boyd-Wickizer, Clements, Mao, Pesterev, Kaashoek, Morris
  and Zeldovich, "An Analysis of Linux Scalability to Many Cores", OSDI 2010, whose
  Exim ran on 2.6.35 with dcache_lock: its row on linux:2.6.35 is now not judged).
  MOSBENCH's own Exim setup (github.com/KunZheng/mosbench, exim/) is what the
  @mosbench workload follows (workloads/src/mosbench.c): its load generator, smtpbm.c,
  runs on the machine under test (run-smtpbm) and sends 10 messages a TCP connection
  to <client>@mosbench.org, one write a line; its Exim is built with
  MOSBENCH_WAIT_DELIVERY (the receiving process waits for the delivery it forks) and
  MOSBENCH_SPLIT_BY_PID (the split spool directory, 62 subdirectories, chosen by the
  receiving process's id rather than by the arrival second; the modified source is
  not stored, so the choice, pid modulo 62, is read from the flag's name); its
  configure.tmpl's first router, virtual_user, accepts every address @mosbench.org
  for the local_delivery transport, an append to the recipient's mailbox, so no
  aliases, passwd or .forward lookup is made. What a real Exim does per message beyond
  that loop was measured on Debian's Exim 4.96 under those settings (its user-space
  instructions by process and its name lookups: workloads/src/exim_work.h and
  benchmarks/exim/), not on the figures above, and the loop now does it.
* GUZIK_2024: Mateusz Guzik, "vfs: move d_lockref out of the area used by RCU lookup"
  (Linux commit 18a5daf0e497, 2024): a 20-way stat(2) of one tmpfs file on a current
  kernel spends its time in lockref_get_not_dead and lockref_put_return: MRPH's
  bottleneck still holds on 6.x.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALES = "scales"
SATURATES = "saturates"
COLLAPSES = "collapses"
DOES_NOT_SCALE = "does not scale"  #: a published verdict: saturates or collapses
#: A published finding that names the bottleneck (the lock most cycles spin on) but not
#: how the throughput scales: only the bottleneck is judged.
BOTTLENECK_ONLY = "bottleneck only"
UNJUDGED = "not judged"

FXMARK = ("Min et al., Understanding Manycore Scalability of File Systems, "
          "USENIX ATC 2016, sec. 4 (tmpfs, Linux 4.2, 80 cores)")
GUZIK_2024 = "Linux commit 18a5daf0e497 (Guzik, 2024): 20-way stat of one tmpfs file"
FXMARK_NOTES = ("Min et al., ATC 2016, microbenchmark analysis (tmpfs, Linux 4.2, 80 cores), "
                "as a reading note restates it (its sec. 5): github.com/arkingc/research "
                "paper/README.md at 0b139dd0571d")


@dataclass(frozen=True)
class Published:
    """One published finding. Each field: meaning."""

    workload: str
    """The validation workload (``fxmark:MWCM``)."""
    verdict: str
    """SCALES, DOES_NOT_SCALE or BOTTLENECK_ONLY."""
    bottleneck: tuple[str, ...]
    """Lock names (sim/lockversions.py) that stand for the named bottleneck; () for none."""
    version: str
    """The Linux version the finding was measured on (a key of lockversions.VERSIONS)."""
    cores: int
    """The core count of the finding."""
    source: str
    """Where it is published."""
    finding: str
    """The finding in words."""
    callers: tuple[str, ...] = ()
    """Linux functions the finding's profile says most of the spinning was in (a lock's
    spinning counted in its caller, as a call-graph profile does), by the ``source``
    names of sim/lockversions.py's rules; when given, the bottleneck is judged on the
    share of the model's lock waits those functions took (at least half: sim/validate.py
    ``MOSTLY``), not on the lock's name."""
    scales_to: int = 0
    """A finding that scales up to this many cores and not beyond (its verdict holds
    above it; at or below it the published curve scales): judged at the run's largest
    worker count. 0: the verdict holds at every core count judged."""


def _fx(name: str, verdict: str, locks: tuple[str, ...], finding: str) -> Published:
    return Published(f"fxmark:{name}", verdict, locks, "4.2", 80, FXMARK, finding)


#: Every published finding, by workload.
PUBLISHED: dict[str, Published] = {p.workload: p for p in (
    _fx("MRPL", SCALES, (), "private paths: nothing shared, scales"),
    _fx("MRPH", DOES_NOT_SCALE, ("d_lockref",),
        "one path: the last dentry's reference count bounces on every stat"),
    _fx("MRDM", DOES_NOT_SCALE, ("i_mutex",),
        "readdir of one directory takes its i_mutex exclusive (before 4.7)"),
    _fx("MWCM", DOES_NOT_SCALE, ("i_mutex",), "creates in one directory: its i_mutex"),
    _fx("MWUM", DOES_NOT_SCALE, ("i_mutex",), "unlinks in one directory: its i_mutex"),
    _fx("MWRL", DOES_NOT_SCALE, ("rename_lock",),
        "renames in private directories: the global rename_lock"),
    _fx("DRBL", SCALES, (), "reads of private files scale"),
    _fx("DRBH", DOES_NOT_SCALE, ("page_ref",),
        "reads of one block: the page's reference count bounces"),
    _fx("DWOL", SCALES, (), "overwrites of private files scale"),
    _fx("DWOM", DOES_NOT_SCALE, ("i_mutex",),
        "overwrites of private blocks of one file: the file's inode mutex"),
)}


def _note(name: str, verdict: str, locks: tuple[str, ...], finding: str,
          scales_to: int = 0) -> Published:
    return Published(f"fxmark:{name}", verdict, locks, "4.2", 80, FXMARK_NOTES, finding,
                     scales_to=scales_to)


PUBLISHED.update({p.workload: p for p in (
    _note("MRPM", DOES_NOT_SCALE, ("d_lockref",),
          "stats of paths that are occasionally the same scale only to 10 cores: the "
          "dentry's lockref (note, 5.2.1)", scales_to=10),
    _note("MRDL", SCALES, (), "listing private directories scales on all but btrfs "
          "(note, 5.2.2)"),
    _note("MWCL", DOES_NOT_SCALE, ("inode_sb_list_lock",),
          "creates in private directories: the global inode list's spinlock, "
          "inode_sb_list_lock (note, 5.2.3)"),
    _note("MWUL", DOES_NOT_SCALE, ("inode_sb_list_lock",),
          "unlinks in private directories: the global inode list's spinlock, "
          "inode_sb_list_lock (note, 5.2.3)"),
    _note("MWRM", DOES_NOT_SCALE, ("rename_lock",),
          "renames are serialized system-wide whatever the sharing: rename_lock "
          "(note, 5.2.4)"),
    _note("DWAL", DOES_NOT_SCALE, ("used_blocks",),
          "appends scale to 50 cores, then the capacity check's slow path contends on a "
          "spinlock (shmem's used_blocks percpu_counter) (note, 5.1.3)",
          scales_to=50),
    _note("DWTL", DOES_NOT_SCALE, ("page_counter",),
          "truncates: atomic updates of the memory cgroup's page usage, its page_counter "
          "(note, 5.1.3)"),
)})

_LKP = ("Linux kernel test robot will-it-scale reports, as issue #15 quotes them (the "
        "report itself not located here)")
LKP_MMAP1 = ("kernel test robot, [mm/gup] 57efa1fe59 will-it-scale report, linux-kernel "
             "2021-05-25, <20210525031636.GB7744@xsang-OptiPlex-9020>: mmap1, 48 threads")
PUBLISHED.update({p.workload: p for p in (
    Published("wis:open3", DOES_NOT_SCALE, (), "6.x", 224, _LKP,
              "open3 (one file) from 224 threads gives about one core's worth"),
    Published("wis:context_switch1", SCALES, (), "6.x", 112, _LKP,
              "context_switch1, process mode: 81-88% of linear at 56-112 processes"),
    Published("wis:mmap1", DOES_NOT_SCALE, ("mmap_lock",), "6.x", 48, LKP_MMAP1,
              "mmap1, thread mode: 96.6% of cycles waiting for the mmap_lock's write side "
              "in mmap and munmap (osq_lock spinning)"),
)})

LKP_PAGE_FAULT2 = ("kernel test robot, c0a242394cb9 (mm, page_alloc: scale the number of "
                   "pages that are batch allocated) will-it-scale report, linux-kernel "
                   "2023-11-20: page_fault2, 52 processes")
PUBLISHED.update({p.workload: p for p in (
    Published("wis:page_fault2", BOTTLENECK_ONLY, ("zone_lock",), "6.x", 52, LKP_PAGE_FAULT2,
              "page_fault2, process mode, 52 processes: 16.4% of cycles spinning on the zone "
              "lock (10.1% freeing in bulk, 6.3% refilling the per-CPU lists), 9.4% on the "
              "LRU lock, 4.2% on the (per-process) page-table lock; no scaling figure"),
)})

#: The 2.6.38 rules' sources that are dget or dput (sim/lockversions_2638.py DGET_DPUT:
#: dget, dput, and __d_lookup, where a ref-walk step does dget's work under d_lock).
EXIM_DGET_DPUT = ("dget", "dput", "__d_lookup")
MOSBENCH_EXIM = ("Kleen and Chen (Intel, 2011), Exim on 40 cores / 80 threads, Linux 2.6.38, "
                 "as docs/calibration.md quotes it; the workload MOSBENCH's (Boyd-Wickizer "
                 "et al., OSDI 2010)")
PUBLISHED.update({p.workload: p for p in (
    Published("mosbench:exim", DOES_NOT_SCALE, ("d_lock",), "2.6.38", 40, MOSBENCH_EXIM,
              "Exim at 40 cores: 52.8% of cycles in spinlocks, mostly dget/dput (39.6% and "
              "38.6% of them; the RCU-walk fallback 18.7%); about 2x (1.97x) from fixing "
              "the RCU walk of absolute paths",
              callers=EXIM_DGET_DPUT),
)})

#: The published share of cycles spinning, where a finding gives one (printed beside
#: the model's, not judged).
PUBLISHED_SPINNING: dict[str, float] = {"mosbench:exim": 0.528}

#: Published results some constant of the model was set from (none: see the docstring).
FITTED_ON: dict[str, str] = {}
