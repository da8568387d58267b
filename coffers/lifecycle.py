"""Births and deaths of tasks and processes (kernel/fork.c, kernel/exit.c).

* :meth:`Lifecycle.clone` makes a new task: a thread of the caller's process
  (CLONE_THREAD), or a new process whose address space is shared (CLONE_VM,
  vfork) or copied (fork); descriptor table, filesystem context and signal
  handlers are shared or copied as the flags say.
* :meth:`Lifecycle.task_exited` finishes a thread: CLONE_CHILD_CLEARTID's store
  and futex wake, and when the last thread of a process is gone, the process
  becomes a zombie, its children are handed to the coffer's init, its parent
  gets SIGCHLD and is woken in wait4.
* :meth:`Lifecycle.reap` removes a zombie (wait4).

When the coffer's init process dies, every other process of the coffer is
killed, as when the init of a Linux pid namespace dies.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers import locktrace
from cofferos.coffers.mm import MmError
from cofferos.coffers.net.veth import cleanup_net
from cofferos.coffers.pid_ns import attach, detach, is_ns_init, pid_nr_of, pid_vnr
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.task import ExitStatus, FsContext, Process, Task, TaskState
from cofferos.coffers.timens import enter, for_children
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, WaitQueue
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.pid_ns import PidNamespace

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x100000, 0x200000
CLONE_DETACHED, CLONE_UNTRACED, CLONE_CHILD_SETTID = 0x400000, 0x800000, 0x1000000
CSIGNAL = 0xFF
TID_SIZE = 4


def child_uid(reader: Process, child: Process) -> int:
    """The child's real uid as ``reader`` (its parent, or a waiter) sees it: SIGCHLD's
    and waitid's si_uid (do_notify_parent, wait_task_zombie: from_kuid_munged in the
    reader's user namespace)."""
    from cofferos.coffers.userns import UID_MAP, from_kid_munged

    return from_kid_munged(reader.creds.userns, UID_MAP, child.creds.uid)


def put_tid(task: Task, address: int, tid: int) -> None:
    """Store a thread id for set_tid/clear_child_tid as Linux's put_user does there: a
    word the guest cannot write is skipped silently (Unicorn alone would store into a
    read-only page)."""
    if task.cpu.memory_map.accessible(address, TID_SIZE, writing=True) < TID_SIZE:
        return
    try:
        task.cpu.write(address, tid.to_bytes(TID_SIZE, "little"))
    except MemoryFault:
        pass


@dataclass(frozen=True)
class CloneArgs:
    flags: int
    stack: int = 0
    parent_tid: int = 0
    child_tid: int = 0
    tls: int = 0


class Lifecycle:
    """Creation, exit, reparenting and reaping for one coffer."""

    def __init__(self, coffer: Coffer) -> None:
        self.coffer = coffer

    # -- birth ---------------------------------------------------------------------------
    def clone(self, parent: Task, args: CloneArgs, pid_ns: PidNamespace | None = None) -> Task:
        """The child task; ``pid_ns``: the nested PID namespace it goes into (None: the
        coffer's own), which its fork checked still takes processes."""
        coffer, flags = self.coffer, args.flags
        if flags & CLONE_THREAD:
            process = parent.process
        else:
            real_parent = parent.process.parent if flags & CLONE_PARENT else parent.process
            # copy_process: a CLONE_PARENT child is its creator's sibling and signals the
            # common parent as its creator would, not with a signal of its creator's choice.
            exit_signal = parent.process.exit_signal if flags & CLONE_PARENT else flags & CSIGNAL
            handlers = parent.process.handlers if flags & CLONE_SIGHAND \
                else parent.process.handlers.copy()
            process = Process(
                tgid=0, parent=real_parent, pgid=parent.process.pgid, sid=parent.process.sid,
                handlers=handlers, rlimits=dict(parent.process.rlimits),
                creds=parent.process.creds, exit_signal=exit_signal,
                exe_inode=parent.process.exe_inode, exe_path=parent.process.exe_path,
                argv=list(parent.process.argv), envp=list(parent.process.envp),
                comm=parent.process.comm, start_ns=coffer.monotonic_ns(),
                nice=parent.process.nice, no_new_privs=parent.process.no_new_privs,
                personality=parent.process.personality, uts=parent.process.uts,
                mnt_ns=parent.process.mnt_ns, ipc_ns=parent.process.ipc_ns, pid_ns=pid_ns,
                net_ns=parent.process.net_ns, cgroup_ns=parent.process.cgroup_ns)
            enter(process, for_children(parent.process))  # timens_on_fork
        pid = coffer.alloc_pid()
        coffer.domain.forks += 1
        if flags & CLONE_VM:
            cpu, mm = parent.cpu, parent.mm
        else:
            cpu, mm = coffer.new_cpu()
            try:
                parent.mm.copy_into(mm)
            except MmError:  # (fork's caller answers ENOMEM) the engine goes back
                mm.release()
                cpu.reset()
                coffer.engines.give(cpu, coffer.engine_kind)
                raise
            cpu.counter.copy_table_from(parent.cpu.counter)
        files = parent.files if flags & CLONE_FILES else parent.files.copy()
        fs = parent.fs if flags & CLONE_FS else FsContext(parent.fs.cwd, parent.fs.umask)
        child = Task(coffer, pid, process, cpu, mm, files, fs)
        if not flags & CLONE_THREAD:
            process.tgid = pid
            coffer.processes[pid] = process
            if process.parent is not None:
                process.parent.children.append(process)
        process.threads.append(child)
        coffer.tasks[pid] = child
        if pid_ns is not None:
            attach(pid_ns, child, process)
        child.blocked = parent.blocked
        # Linux clears the alternate signal stack for a child that shares the address
        # space (it would share the stack too), except across vfork.
        shares_stack = flags & CLONE_VM and not flags & CLONE_VFORK
        child.altstack = (0, 0, 0) if shares_stack else parent.altstack
        child.rseq_area = 0 if flags & CLONE_VM else parent.rseq_area
        self._set_registers(parent, child, args)
        # The TID stores may fail (a bad pointer) and Linux ignores that: the child
        # exists already (kernel_clone's and schedule_tail's put_user). Failing the
        # call here would leave a registered child that is never scheduled.
        if flags & CLONE_PARENT_SETTID:
            put_tid(parent, args.parent_tid, pid_vnr(parent, pid))
        if flags & CLONE_CHILD_SETTID:
            put_tid(child, args.child_tid, pid_vnr(child, pid))
        if flags & CLONE_CHILD_CLEARTID:
            child.clear_child_tid = args.child_tid
        if flags & CLONE_VFORK:
            child.vfork_done = WaitQueue()
        coffer.scheduler.enqueue(child)
        return child

    def _set_registers(self, parent: Task, child: Task, args: CloneArgs) -> None:
        """The child resumes after the call with RAX = 0, on its own stack and TLS."""
        cpu = parent.cpu
        if child.cpu is cpu:
            saved = cpu.save_context()
            self._child_view(cpu, args)
            child.context = cpu.save_context()
            cpu.restore_context(saved)
        else:
            cpu.copy_registers_to(child.cpu)
            child.cpu.task = child
            self._child_view(child.cpu, args)
            child.context = None

    @staticmethod
    def _child_view(cpu: object, args: CloneArgs) -> None:
        # Inside the SYSCALL hook RIP still points at the instruction (Unicorn adds
        # its length after the hook returns); the child resumes after it.
        cpu.pc = cpu.pc + SYSCALL_INSN_LENGTH  # type: ignore[attr-defined]
        cpu.set_result(0)  # type: ignore[attr-defined]
        if args.stack:
            cpu.sp = args.stack  # type: ignore[attr-defined]
        if args.flags & CLONE_SETTLS:
            cpu.fs_base = args.tls  # type: ignore[attr-defined]

    # -- death ----------------------------------------------------------------------------
    def kill_process(self, process: Process, status: ExitStatus) -> None:
        """End every thread of ``process`` with ``status`` (exit_group, fatal signals)."""
        if process.zombie:
            return
        process.exit_status = process.exit_status or status
        for task in list(process.live_threads):
            task.exit(status)

    def task_exited(self, task: Task) -> None:
        coffer = self.coffer
        coffer.scheduler.forget(task)
        coffer.exit_robust_list(task)
        if task.clear_child_tid:
            put_tid(task, task.clear_child_tid, 0)
            coffer.futex_wake(task, task.clear_child_tid, 1)
        if task.vfork_done is not None:
            task.vfork_done.wake_all()
            task.vfork_done = None
        process = task.process
        if process.live_threads:
            # Another thread goes on. A non-leader thread leaves no zombie; the
            # leader stays in the table as a zombie until the whole group is gone.
            if task.pid != process.tgid:
                coffer.tasks.pop(task.pid, None)
                detach(process.pid_ns, task.pid)
            return
        if process.exit_status is None:
            process.exit_status = task.exit_status
        self._process_exited(process)

    def _process_exited(self, process: Process) -> None:
        coffer = self.coffer
        process.zombie = True
        process.pidfd_wait.wake_all()  # do_notify_pidfd
        status = process.exit_status or ExitStatus()
        leader = process.threads[0] if process.threads else None
        engines = {id(t.mm): t for t in process.threads if t.mm is not None}
        sharing = {id(t.mm) for t in coffer.tasks.values() if t.alive and t.process is not process}
        for key, thread in engines.items():
            if key not in sharing:
                coffer.retire_cpu(process, thread.cpu, thread.mm)
        tables = {id(t.files): t.files for t in process.threads}
        for table in tables.values():
            if not any(t.alive and t.files is table for t in coffer.tasks.values()):
                table.close_all()
        self._put_namespaces(process)
        coffer.devpts.session_leader_exited(process)  # disassociate_ctty(1)
        for thread in process.threads:
            if thread is not leader:
                coffer.tasks.pop(thread.pid, None)
                detach(process.pid_ns, thread.pid)
        process.alarm_deadline_ns = None
        if process is coffer.init:
            for other in list(coffer.processes.values()):
                if other is not process:
                    self.kill_process(other, ExitStatus(signal=signal.SIGKILL))
            return
        if is_ns_init(process):
            self._zap_pid_ns(process)
        for child in list(process.children):
            self._reparent(child, process)
        process.children.clear()
        parent = process.parent
        if parent is None:
            self.reap(process)
            return
        # A parent asleep in wait finds the zombie before it sees the signal, as Linux's
        # do_wait loop checks its children before signal_pending: woken first, it
        # returns the child rather than EINTR.
        parent.child_exit.wake_all()
        if process.exit_signal:
            code, value = coffer.signals.child_status(status)
            coffer.signals.send_process(parent, SigInfo(
                process.exit_signal, code=code, pid=pid_nr_of(parent, process.tgid),
                status=value,
                uid=child_uid(parent, process)))
        if parent.handlers.get(signal.SIGCHLD).handler == 1 and parent is not coffer.init:
            self.reap(process)  # SIGCHLD ignored: children are reaped at once (POSIX.1-2001)

    def _put_namespaces(self, process: Process) -> None:
        """The mount and IPC namespaces ``process`` was the last in go (put_mnt_ns,
        shm_exit_ns): their tmpfs mounts and System V segments with them; and the
        network namespace, unless a socket or an nsfs file open elsewhere, or its nsfs
        file bind-mounted (``ip netns add``), holds it (put_net): its veth ends are
        deleted, their peers with them."""
        others = [t for t in self.coffer.tasks.values() if t.alive and t.process is not process]
        mnt_ns, ipc_ns, net_ns = process.mnt_ns, process.ipc_ns, process.net_ns
        if net_ns is not None and net_ns.links and \
                not any(t.process.net_ns is net_ns for t in others) and \
                not self._holds(net_ns, others):
            cleanup_net(net_ns)
        if mnt_ns is not None and process.threads and \
                not any(t.process.mnt_ns is mnt_ns for t in others):
            from cofferos.coffers.syscalls.umount import put_mnt_ns

            put_mnt_ns(process.threads[0], mnt_ns)
        if ipc_ns is not None and not any(t.process.ipc_ns is ipc_ns for t in others):
            ipc_ns.renew([t.mm for t in others if t.mm is not None], None)

    def _holds(self, ns: object, others: list[Task]) -> bool:
        """Does an open file of ``others`` (a socket made in ``ns``, or its nsfs file),
        or a mount of its nsfs file in any mount namespace, keep ``ns`` alive?"""
        files = [entry.file for table in {id(t.files): t.files for t in others}.values()
                 for entry in table.fds.values()]
        if any(getattr(file, "ns", None) is ns
               or getattr(getattr(file, "inode", None), "ns", None) is ns for file in files):
            return True
        spaces = {id(t.process.mnt_ns): t.process.mnt_ns for t in others
                  if t.process.mnt_ns is not None}
        spaces[id(self.coffer.fs.ns)] = self.coffer.fs.ns
        return any(getattr(mnt.root, "ns", None) is ns
                   for space in spaces.values() for mnt in space.mounts)

    def _zap_pid_ns(self, init: Process) -> None:
        """zap_pid_ns_processes: the init of a nested PID namespace has exited: no
        process may enter the namespace any more, every process in it is killed, and
        the init reaps them all before its own parent hears of it."""
        ns = init.pid_ns
        assert ns is not None
        ns.adding = False
        for other in list(self.coffer.processes.values()):
            if other is not init and ns.contains(other):
                self.kill_process(other, ExitStatus(signal=signal.SIGKILL))
        for child in list(init.children):
            if child.zombie:
                self.reap(child)

    def _reaper(self, father: Process) -> Process | None:
        """find_child_reaper: the init of the exiting parent's PID namespace (the
        coffer's init in the coffer's own namespace), even while that init is dying:
        it reaps them (:meth:`_zap_pid_ns`)."""
        ns = father.pid_ns
        if ns is not None and ns.reaper is not None and ns.reaper is not father:
            return ns.reaper
        return self.coffer.init

    def _reparent(self, child: Process, father: Process) -> None:
        """``reparent_leader``: an orphan goes to init with SIGCHLD as its exit signal
        ("we don't want people slaying init"), and a zombie orphan is announced to it."""
        coffer = self.coffer
        init = self._reaper(father)
        child.parent = init
        child.exit_signal = signal.SIGCHLD
        if init is None:
            return
        init.children.append(child)
        if child.zombie:
            init.child_exit.wake_all()  # before the signal, as above
            code, value = coffer.signals.child_status(child.exit_status or ExitStatus())
            coffer.signals.send_process(init, SigInfo(signal.SIGCHLD, code=code,
                                                      pid=pid_nr_of(init, child.tgid),
                                                      status=value,
                                                      uid=child_uid(init, child)))

    def reap(self, process: Process) -> None:
        """Forget a zombie: its pid is free again (release_task, under tasklist_lock)."""
        if locktrace.trace is not None:
            locktrace.trace.append((locktrace.TASKLIST_WRITE, None))
        coffer = self.coffer
        if process.parent is not None and process in process.parent.children:
            process.parent.children.remove(process)
            process.parent.account_reaped(process)
        coffer.processes.pop(process.tgid, None)
        for thread in process.threads:
            coffer.tasks.pop(thread.pid, None)
        # (the other threads' numbers went when they exited: theirs may be reused)
        detach(process.pid_ns, process.tgid)
        process.reaped = True
        process.pidfd_wait.wake_all()  # its pidfds now also poll POLLHUP

    # -- exec ----------------------------------------------------------------------------
    def before_exec(self, task: Task) -> bool:
        """The point of no return of execve: other threads die, shared state is unshared.

        Returns True when the old address space lives on in another task (a vfork
        parent), so the new program needs an engine of its own.
        """
        process = task.process
        for other in list(process.live_threads):
            if other is not task:
                other.exit(ExitStatus(signal=signal.SIGKILL))
                process.threads.remove(other)
                self.coffer.tasks.pop(other.pid, None)
        if task.pid != process.tgid:  # the exec'ing thread takes over the leader's pid
            self.coffer.tasks.pop(task.pid, None)
            detach(process.pid_ns, task.pid)  # (its numbers become the leader's)
            task.pid = process.tgid
            self.coffer.tasks[task.pid] = task
        self.coffer.exit_robust_list(task)  # exec_mm_release: the old program's locks die
        shared = any(t.mm is task.mm for t in self.coffer.tasks.values()
                     if t is not task and t.alive)
        if task.vfork_done is not None:
            task.vfork_done.wake_all()
            task.vfork_done = None
        if not shared:
            self.coffer.remember_block_costs(process, task.cpu)
            task.mm.release()
        if any(t.files is task.files for t in self.coffer.tasks.values()
               if t is not task and t.alive):
            task.files = task.files.copy()
        task.files.close_on_exec()
        process.handlers = process.handlers.copy()
        process.handlers.reset_for_exec()
        task.altstack = (0, 0, 0)
        task.clear_child_tid = task.robust_list = task.rseq_area = 0
        task.state = TaskState.RUNNABLE
        return shared

