"""Kernel domains: where kernel-global state lives, and which containers share it.

A kernel holds some state that is global to the whole kernel, not to a process:
its task table (``threads-max``), its RAM, its page cache, its run queues (the
load average), its count of open files. A *kernel domain* is one such kernel
instance together with the coffers it serves:

* **CofferOS**: every coffer is a domain of its own (the Coffer *is* the kernel
  state of its container);
* **a VM**: every guest kernel is a domain; **a sandbox**: every Sentry;
* **Linux containers**: one domain, the host kernel, serves every container.

The functional kernel reads its kernel-global figures (``/proc/loadavg``,
``/proc/meminfo``, ``/proc/stat``, ``sysinfo(2)``) through the coffer's domain
and draws task slots and RAM from it, so on a shared kernel one container's
activity is visible to, and can exhaust, the others (as on Linux), while a
private domain answers from the coffer alone. Nothing here is special-cased per
architecture: :func:`cofferos.sim.experiment.run_mix` makes one shared domain when
the architecture has ``shared_kernel`` and one per coffer otherwise, and the
isolation experiments (:mod:`cofferos.sim.isolation`) use the same object as the
*fault domain*: a kernel panic ends every member of the domain that panicked.

What stays per coffer on every architecture is what Linux namespaces too: PID
numbers (a PID namespace), host name (UTS), mounts and files, network names.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.mm import MemoryAccount

PAGE_BYTES = 4096  #: the page cache's unit (x86-64 base page)
THREAD_SIZE = 16 * 1024  #: x86-64's kernel stack per task (THREAD_SIZE without KASAN)
#: set_max_threads (kernel/fork.c): at boot, threads-max is what 1/8 of RAM holds of
#: kernel stacks, at least MIN_THREADS and at most FUTEX_TID_MASK.
THREADS_PER_RAM_SHARE = 8
MIN_THREADS = 20
MAX_THREADS = 0x3FFFFFFF

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task


@dataclass(eq=False)
class KernelDomain:
    """One kernel instance: its global limits and the coffers it serves.

    ``threads_max`` and ``memory`` are the kernel-wide limits (None: only each
    coffer's own limits apply, as for a private domain).
    """

    name: str
    threads_max: int | None = None
    """Tasks the whole kernel may hold (kernel.threads-max); fork past it is EAGAIN."""
    memory: MemoryAccount | None = None
    """The kernel's RAM, which every member's memory account also draws on."""
    members: list[Coffer] = field(default_factory=list)
    page_cache: OrderedDict[object, None] = field(default_factory=OrderedDict)
    """Identities of file pages this kernel has cached (shared by all its members):
    (host file key, page index), least recently used first, see :meth:`cache_pages`."""
    page_cache_pages: int | None = None
    """Pages the page cache holds at most (least recently used evicted first); None:
    as many as this kernel's RAM holds, see :meth:`page_cache_capacity`."""
    page_cache_users: set[str] = field(default_factory=set)
    """Names of the members that have read through the page cache."""
    page_cache_misses: dict[str, int] = field(default_factory=dict)
    """Page-cache misses per member name (each a page read from the device)."""
    page_cache_evictions: int = 0
    """Pages evicted from the page cache to make room (all members together)."""
    pending_tasks: int = 0
    """Inits of members that a timing machine spawns only when they first get a core
    (:meth:`cofferos.sim.machine.Machine.defer_start`): live and runnable meanwhile."""
    forks: int = 0
    """Tasks this kernel has created by fork/clone since boot (Linux's ``total_forks``,
    /proc/stat ``processes``): a kernel-wide counter that PID namespaces do not split."""

    @property
    def shared(self) -> bool:
        return len(self.members) > 1

    def join(self, coffer: Coffer) -> None:
        """Serve ``coffer``: its memory account draws on this kernel's RAM too."""
        self.members.append(coffer)
        if self.memory is not None:
            coffer.memory.pool = self.memory

    # -- kernel-global figures, as the kernel would compute them ------------------------
    def tasks(self) -> list[Task]:
        """Every task of every member (the kernel's task list)."""
        return [task for coffer in self.members for task in coffer.tasks.values()]

    def live_tasks(self) -> int:
        return sum(coffer.live_task_count for coffer in self.members) + self.pending_tasks

    def runnable(self) -> int:
        return (sum(1 for task in self.tasks() if task.alive and task.runnable)
                + self.pending_tasks)

    def memory_total(self, coffer: Coffer) -> int:
        return self.memory.limit_bytes if self.memory is not None else coffer.memory.limit_bytes

    def memory_used(self, coffer: Coffer) -> int:
        return self.memory.used_bytes if self.memory is not None else coffer.memory.used_bytes

    def page_cache_capacity(self) -> int:
        """Pages the page cache may hold: :attr:`page_cache_pages` if set, else the
        kernel's RAM in pages (Linux lets the page cache grow into all free memory; the
        simulator charges cached pages to no memory account, so the RAM bounds it): a
        shared kernel's RAM, or for a private domain its members' memory limits."""
        if self.page_cache_pages is not None:
            return self.page_cache_pages
        ram = (self.memory.limit_bytes if self.memory is not None
               else sum(member.memory.limit_bytes for member in self.members))
        return max(ram // PAGE_BYTES, 1)

    def cache_pages(self, key: object, offset: int, nbytes: int, reader: str) -> int:
        """Read ``nbytes`` at ``offset`` of host file ``key`` through this kernel's page
        cache: cache the pages not yet cached, evicting the least recently used pages
        beyond :meth:`page_cache_capacity`, and return how many were not cached (misses)."""
        self.page_cache_users.add(reader)
        cache = self.page_cache
        capacity = self.page_cache_capacity()
        misses = 0
        for page in range(offset // PAGE_BYTES, (offset + nbytes - 1) // PAGE_BYTES + 1):
            ident = (key, page)
            if ident in cache:
                cache.move_to_end(ident)
                continue
            cache[ident] = None
            misses += 1
            while len(cache) > capacity:
                cache.popitem(last=False)
                self.page_cache_evictions += 1
        if misses:
            self.page_cache_misses[reader] = self.page_cache_misses.get(reader, 0) + misses
        return misses

    def max_threads(self, coffer: Coffer) -> int:
        """kernel.threads-max as ``coffer`` reads it: the kernel-wide limit when this
        kernel has one, else the value Linux computes at boot from the kernel's RAM
        (set_max_threads). Only the first is enforced (:meth:`tasks_full`); a private
        domain's forks are bounded by RLIMIT_NPROC and memory instead."""
        if self.threads_max is not None:
            return self.threads_max
        boot = self.memory_total(coffer) // (THREADS_PER_RAM_SHARE * THREAD_SIZE)
        return min(max(boot, MIN_THREADS), MAX_THREADS)

    def tasks_full(self) -> bool:
        """No task slot left in the whole kernel (a fork anywhere in it fails)."""
        return self.threads_max is not None and self.live_tasks() >= self.threads_max

