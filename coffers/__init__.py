"""The kernel model: one :class:`~cofferos.coffers.coffer.Coffer` per container.

A coffer holds the whole kernel state of one container (processes, files,
memory maps, signals, sockets, its clock) and serves its guests' system calls.
Every call enters through :mod:`.syscalls.dispatch` and the coffer's stack of
personalities (:mod:`cofferos.personalities`); the handlers live in
``syscalls/``, one module per family named after Linux's sources. The modules
here are the kernel objects those handlers work on, each named after the Linux
structure or source file it models:

- the coffer and its configuration: :mod:`.coffer`, :mod:`.timekeeping` (its
  clock), :mod:`.pagefault` (its page faults), :mod:`.binfmt` (starting its
  programs), :mod:`.config`,
  :mod:`.domain` (which kernel-global state containers share: the seam between
  CofferOS and a shared Linux), :mod:`.functional_machine` (several coffers in one
  process, without simulated time), :mod:`.program` (where programs are found);
- processes: :mod:`.task`, :mod:`.lifecycle` (fork, exit), :mod:`.sched`
  (slices, sleep, timers), :mod:`.wait` (wait queues), :mod:`.signals`,
  :mod:`.sigdeliver`, :mod:`.sigframe`, :mod:`.itimers`, :mod:`.capability`,
  :mod:`.pidfd`, :mod:`.hostbudget` (host CPU time a coffer may spend);
- memory: :mod:`.mm` (the address space: brk, mmap placement, munmap, mprotect,
  fork's copy), :mod:`.vma` (memory areas), :mod:`.filemap` (file mappings'
  faults), :mod:`.mremap`, :mod:`.shmem` (shared pages),
  :mod:`.ipc_shm` (System V segments);
- files: :mod:`.files` (open files and descriptor tables), ``fs/`` (the
  in-memory filesystem, mounts, images), :mod:`.pipe`, :mod:`.eventfd`,
  :mod:`.timerfd`, :mod:`.eventpoll`, :mod:`.poll`, :mod:`.anon_inodes`,
  :mod:`.file_locks` (flock and POSIX record locks), :mod:`.leases`, :mod:`.fown`,
  :mod:`.opsdev` (``/dev/coffer/ops``), ``procfs/``;
- networking: ``net/`` (sockets) and :mod:`.network` (the virtual switch);
- time and accounting: :mod:`.ktime`, :mod:`.loadavg`, :mod:`.locktrace` (which
  kernel lock instances a call would take in Linux, for the timing machine);
- for people: :mod:`.views` (text views of a coffer for the debugger).
"""
