"""``coffersim run --break CALL[:N]`` and ``--step``: stop at a system call and look inside.

The debugger is a tracer (the dispatcher's ``enter``/``leave`` protocol, see
:mod:`cofferos.coffers.syscalls.dispatch`): it is installed only when a breakpoint
or ``--step`` is given, so an ordinary run pays nothing. Before a call that a
breakpoint names (the Nth of its kind, counted per coffer) it stops the machine
inside the trap and reads commands from a small interpreter built on Python's
:mod:`cmd` module:

    call             the call again: name, decoded arguments and structures, RIP
    regs             the general registers
    x/NFU ADDR       guest memory (x/16xb $rsi, x/4xg $rsp, x/s 0x401000)
    tasks            every task, its state and what it sleeps in
    fds [PID]  maps [PID]  signals [PID]  mounts      a task's files, memory, signals
    personalities    the stack's hooks this call goes through (and, after next, what each did)
    cycles           instructions and cycles so far
    next             run this call to its return: its result and cycles, then stop again
                     (at a return: stop before the task's next call)
    continue         run to the next breakpoint;  finish: to the end, never stopping
    break CALL[:N]   another breakpoint;  delete [CALL]: remove one or all
    help [COMMAND]   the commands

The commands come from the terminal, or from ``--script FILE`` (one per line; a
script that ends means continue, as end of input does). Everything the debugger
prints goes to ``out`` (stderr), never to the guest's stdout. A mistake at the
prompt is one line and the prompt returns.
"""

from __future__ import annotations

import cmd
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from cofferos.coffers import views
from cofferos.coffers.syscalls.decode import call_arguments, call_details
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.coffers.syscalls.table import SyscallEntry, name_of
from cofferos.coffers.syscalls.trace import Tracer, format_result
from cofferos.errors import ConfigError
from cofferos.personalities.observe import Observation, observe

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

STEP = "*"  #: the breakpoint --step sets: every call


@dataclass(frozen=True)
class Breakpoint:
    """Stop before call number ``count`` of ``name`` (0: before every one of them)."""

    name: str
    count: int = 0

    def __str__(self) -> str:
        shown = "every call" if self.name == STEP else self.name
        return f"{shown}:{self.count}" if self.count else shown


def parse_breakpoint(text: str) -> Breakpoint:
    """``write``, ``write:2``: a breakpoint, or a ConfigError (one line) saying why not."""
    name, _, count = text.strip().partition(":")
    if name not in SYSCALL_NUMBERS:
        raise ConfigError(f"--break {text}: no x86-64 system call named {name!r}")
    if not count:
        return Breakpoint(name)
    try:
        number = int(count)
    except ValueError:
        raise ConfigError(f"--break {text}: N must be a whole number, not {count!r}") from None
    if number < 1:
        raise ConfigError(f"--break {text}: N counts calls from 1")
    return Breakpoint(name, number)


class Debugger:
    """The tracer that stops at breakpoints; ``trace`` (optional) still prints its lines."""

    def __init__(self, breakpoints: list[Breakpoint], out: TextIO, commands: TextIO,
                 trace: Tracer | None = None, echo: bool = False) -> None:
        self.breakpoints = list(breakpoints)
        self.out = out
        self.trace = trace
        self.prompt = Prompt(self, commands, out, echo)
        self.counts: dict[str, int] = {}
        self.in_call: dict[int, str] = {}  #: pid -> the call a task sleeps in
        self.finished = False
        self._entered = ""  #: the call being served (leave has only its result)
        self.seen: Observation | None = None  #: the personalities' decisions on this call
        self.stop_at_return: Task | None = None  #: next at a call: stop at its return
        self.stop_at_entry: Task | None = None  #: next at a return: stop before its next call
        self.at_return = False  #: the stop is at a call's return (else before a call)
        self.current: tuple[Task, SyscallEntry | None, str, list[int]] | None = None

    # -- the tracer protocol -------------------------------------------------------
    def enter(self, task: Task, nr: int, entry: SyscallEntry | None, regs: object) -> None:
        name = entry.name if entry is not None else name_of(nr)
        retried = self.in_call.pop(task.pid, None) == name  # a woken call, not a new one
        self._entered = name
        if not retried:
            self.counts[name] = self.counts.get(name, 0) + 1
        stack = task.coffer.dispatcher.personalities
        self.seen = observe(stack) if stack.personalities else None
        if self.seen is not None:
            self.seen.take()
        if self.trace is not None:
            self.trace.enter(task, nr, entry, regs)
        if self.finished or retried:
            return
        stepped = self.stop_at_entry is task
        if not stepped and not self._hit(name):
            return
        self.stop_at_entry = None
        self.current = (task, entry, name, list(regs)[1:])  # type: ignore[call-overload]
        hits = ", ".join(str(b) for b in self.breakpoints if b.name in (name, STEP))
        why = "next" if stepped else f"breakpoint {hits}"
        self.out.write(f"stopped before {name} #{self.counts[name]} of pid {task.pid} "
                       f"({why})\n")
        self.at_return = False
        self.prompt.show_call()
        self.prompt.run()

    def leave(self, task: Task, result: int | None, cycles: int, blocked: bool = False) -> None:
        decisions = list(self.seen.events) if self.seen is not None else []
        if self.trace is not None:
            self.trace.leave(task, result, cycles, blocked)
        if blocked:
            self.in_call[task.pid] = self._entered
        if self.stop_at_return is not task or self.finished:
            return
        if blocked:
            self.out.write("the call sleeps (blocked); it returns once woken\n")
            return
        self.stop_at_return = None
        self.at_return = True
        if result is None and not task.alive:
            self.out.write(f"the task ended: the call does not return <{cycles} cycles>\n")
        else:
            self.out.write(f"returned {format_result(result)} <{cycles} cycles>\n")
        if self.current is not None:
            current_task, _, name, args = self.current
            for detail in call_details(current_task, name, args, result):
                self.out.write(f"  {detail}\n")
        for decision in decisions:
            self.out.write(f"  personality: {decision}\n")
        self.prompt.run()

    def unreached(self) -> list[Breakpoint]:
        """The breakpoints for a call number the run never made (write:2 with one write)."""
        return [b for b in self.breakpoints
                if b.name != STEP and self.counts.get(b.name, 0) < max(b.count, 1)]

    def _hit(self, name: str) -> bool:
        count = self.counts[name]
        return any(b.name == STEP or (b.name == name and b.count in (0, count))
                   for b in self.breakpoints)

    def describe_call(self) -> list[str]:
        if self.current is None:
            return ["(not stopped at a call)"]
        task, entry, name, args = self.current
        lines = [f"{name}({', '.join(call_arguments(task, entry, name, args))})",
                 f"  from rip {task.cpu.pc:#x}, pid {task.pid}"]
        lines += [f"  {detail}" for detail in call_details(task, name, args)]
        return lines


class Prompt(cmd.Cmd):
    """The interpreter at a stop. Each ``do_*`` method is a command; its docstring is
    its ``help``. A command returns True to resume the guest."""

    intro = None
    prompt = "(coffersim) "

    def __init__(self, debugger: Debugger, commands: TextIO, out: TextIO, echo: bool) -> None:
        super().__init__(stdin=commands, stdout=out)
        self.use_rawinput = False  # input() would write the prompt to the guest's stdout
        self.debugger = debugger
        self.echo = echo  # a script's commands are shown after the prompt, as typed

    @property
    def task(self) -> Task:
        assert self.debugger.current is not None
        return self.debugger.current[0]

    def _live(self) -> Task:
        """The stopped task, if it still has registers and memory."""
        if not self.task.alive:
            raise views.ViewError(f"pid {self.task.pid} has ended: no registers or memory")
        return self.task

    def run(self) -> None:
        self.cmdloop()

    def say(self, lines: list[str]) -> None:
        self.stdout.write("".join(f"{line}\n" for line in lines))

    def show_call(self) -> None:
        self.say(self.debugger.describe_call())

    def precmd(self, line: str) -> str:
        if self.echo and line != "EOF":
            self.stdout.write(line.rstrip("\n") + "\n")
        return line

    def onecmd(self, line: str) -> bool:
        try:
            return bool(super().onecmd(line))
        except (views.ViewError, ConfigError) as err:
            self.stdout.write(f"error: {err}\n")
            return False

    def get_names(self) -> list[str]:
        return [name for name in super().get_names() if name != "do_EOF"]  # not for typing

    def emptyline(self) -> bool:
        return False  # not gdb's "repeat the last command": a blank line does nothing

    def default(self, line: str) -> bool:
        self.stdout.write(f"error: unknown command {line.split()[0]!r} (try help)\n")
        return False

    def _pid(self, arg: str) -> Task:
        arg = arg.strip()
        if arg and not arg.isdigit():
            raise views.ViewError(f"not a pid: {arg!r}")
        return views.find(self.task.coffer, int(arg) if arg else None, self.task)

    # -- looking -------------------------------------------------------------------
    def do_call(self, _arg: str) -> bool:
        """call: the call this stop is at, decoded, and the RIP it came from."""
        self.show_call()
        return False

    def do_regs(self, _arg: str) -> bool:
        """regs: the task's general registers (RIP is the SYSCALL instruction's)."""
        self.say(views.registers(self._live()))
        return False

    def do_x(self, arg: str) -> bool:
        """x/NFU ADDR: N units of memory; F: x (hex), d, u, s (string); U: b, h, w, g.
        ADDR: a number or a register (rsi, $rsp+8)."""
        spec, _, where = arg.partition(" ")
        if not where.strip():
            raise views.ViewError("x/NFU ADDR: which address?")
        self.say(views.examine(self._live(), spec.strip(), where))
        return False

    def do_tasks(self, _arg: str) -> bool:
        """tasks: every task of the coffer, its state and what it sleeps in."""
        self.say(views.task_table(self.task.coffer, self.debugger.in_call))
        return False

    def do_fds(self, arg: str) -> bool:
        """fds [PID]: the open descriptors of a task (default: the caller)."""
        self.say(views.descriptors(self.task.coffer, self._pid(arg)))
        return False

    def do_maps(self, arg: str) -> bool:
        """maps [PID]: a task's memory map, as /proc/PID/maps."""
        self.say(views.memory_maps(self.task.coffer, self._pid(arg)))
        return False

    def do_signals(self, arg: str) -> bool:
        """signals [PID]: pending, blocked, ignored and caught signals, and handlers."""
        self.say(views.signal_state(self._pid(arg)))
        return False

    def do_mounts(self, _arg: str) -> bool:
        """mounts: the coffer's mount table, as /proc/mounts."""
        self.say(views.mount_table(self.task.coffer))
        return False

    def do_personalities(self, _arg: str) -> bool:
        """personalities: which personalities' hooks this call goes through (the hooks
        a personality declared the call does not need are left out)."""
        from cofferos.personalities.observe import consulted

        stack = self.task.coffer.dispatcher.personalities
        if not stack.personalities:
            self.say(["no personalities: the kernel's table serves the call"])
        else:
            assert self.debugger.current is not None  # (a prompt is always at a call)
            _, entry, name, _ = self.debugger.current
            nr = entry.nr if entry is not None else SYSCALL_NUMBERS.get(name)
            self.say(["stack: " + ", ".join(type(p).name or type(p).__name__
                                            for p in stack.personalities),
                      *consulted(stack, nr)])
        return False

    def do_cycles(self, _arg: str) -> bool:
        """cycles: the coffer's user instructions and cycles (user + kernel) so far."""
        coffer = self.task.coffer
        counter = self.task.cpu.counter
        self.say([f"cycles {coffer.cycles} (kernel {coffer.stats.kernel_cycles}), "
                  f"simulated {coffer.monotonic_ns()} ns; this task's CPU has run "
                  f"{counter.instructions} instructions"])
        return False

    # -- going on ------------------------------------------------------------------
    def do_next(self, _arg: str) -> bool:
        """next: run this call to its return, show its result and cycles, stop again;
        at a return: run to this task's next call and stop before it."""
        if self.debugger.at_return:
            self.debugger.stop_at_entry = self.task
        else:
            self.debugger.stop_at_return = self.task
        return True

    def do_continue(self, _arg: str) -> bool:
        """continue: run to the next breakpoint."""
        return True

    do_c = do_continue

    def do_finish(self, _arg: str) -> bool:
        """finish: run to the end without stopping again."""
        self.debugger.finished = True
        return True

    def do_EOF(self, _arg: str) -> bool:  # noqa: N802 - cmd's name for end of input
        """End of input: continue."""
        self.stdout.write("\n")  # end the prompt's line, as a shell does on Ctrl-D
        return True

    def do_break(self, arg: str) -> bool:
        """break CALL[:N]: stop before the Nth CALL (every CALL without N)."""
        point = parse_breakpoint(arg)
        self.debugger.breakpoints.append(point)
        self.say([f"breakpoint {point}"])
        return False

    def do_delete(self, arg: str) -> bool:
        """delete [CALL[:N]]: remove that breakpoint, or all of them (--step's too)."""
        kept = [] if not arg.strip() else [
            b for b in self.debugger.breakpoints if str(b) != arg.strip() and b.name != arg.strip()]
        gone = len(self.debugger.breakpoints) - len(kept)
        self.debugger.breakpoints = kept
        self.say([f"deleted {gone} breakpoint{'s' * (gone != 1)}"])
        return False
