"""The Personality interface: how a coffer's kernel behaviour is customised.

Every hook is declared here, once, with its contract (the way pytest's
``hookspec.py`` declares its hooks). A personality subclasses
:class:`Personality`, overrides the hooks it needs, and is installed through
the ``cofferos.personalities`` entry-point group (the built-ins register the
same way). Each coffer has its own stack of personalities, in order.

Composition rule for a stack ``[p1, p2, ..., pn]`` on one system call:

1. ``on_entry`` runs p1, p2, ... pn in order; each may rewrite ``ctx.args``.
   The first that returns a result (an errno such as ``-errno.EPERM``, or any
   value) ends the call there: later ``on_entry`` and ``handle`` hooks and the
   kernel are skipped. Raising :class:`KillTask` kills the calling process.
2. ``handle`` runs pn, ..., p1 (the top of the stack first); the first that
   returns something other than :data:`NOT_HANDLED` serves the call instead of
   the kernel. Numbers from :data:`RESERVED_FIRST` to :data:`RESERVED_LAST` are
   free for personalities to define new calls.
3. ``on_exit`` runs in reverse order over every personality whose ``on_entry``
   ran, each given the result so far and returning the result to pass on.
4. ``cost`` runs p1 ... pn in order, each given the cycles so far and returning
   the cycles to charge (removing mitigation costs, adding auditing costs).

Policy slots (read by the kernel where it applies them): :meth:`Personality.
may_exec`, :meth:`may_open`, :meth:`may_connect` (filesystem view, programs and
network peers: the first personality that answers False denies, EACCES or
ECONNREFUSED); :meth:`scheduling` (slice, cores, priority: the last
personality that answers wins); :meth:`memory_limit` (the smallest answer
wins, never above the coffer's own limit); :meth:`mounts` (extra host
directories in the coffer's view, copy-on-write). Cost adjustments are the
``cost`` hook above. No page cache is modelled, so there is no page-cache slot.

A personality that fails is contained: a hook or policy slot that raises
anything but :class:`KillTask`, or returns what its contract does not allow (a
result that is not an int from ``on_entry``, ``handle`` or ``on_exit``), kills
the calling process with SIGSYS, as a seccomp ``SECCOMP_RET_KILL_PROCESS``, and
the coffer's oops list says which personality and which hook
(:class:`PersonalityError`); the simulator and every other coffer go on. Where
no system call is running (a coffer being created), the same failure is a
configuration error.

A call that ``on_entry`` ends (a denial) is charged what Linux charges a
seccomp denial, :data:`DENIAL_CYCLES` above entry and exit, not the call's work.

Two optional declarations make a stack cheaper without changing the rule:
:meth:`Personality.hooks_for` (which hooks each call needs; a hook left out
behaves as one that passes) and :attr:`Personality.static_cost` (``cost``
depends only on the call, so its answer is kept per call number). The stack
turns them into per-call plans (:mod:`cofferos.personalities.plans`).

Hooks reach the caller's memory and files through :class:`SyscallContext`'s
helpers (``read``, ``write``, ``read_string``, ``resolve_path``: the kernel's
uaccess and path lookup, errors as :class:`~cofferos.coffers.fs.FsError`; one that
escapes ``on_entry`` or ``handle`` is the call's errno). A personality publishes
what it counted through :meth:`Personality.counters`, read at the end of a run
(``RunResult.personality_counters``, ``--stats``) and by ``/proc/coffer/personalities``.
Options are checked when a class is declared (:func:`_check_option`).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.namei import AT_FDCWD, resolve_path
from cofferos.coffers.syscalls.uaccess import (
    PATH_MAX,
    copy_to_user,
    fd_arg,
    read_user,
    strncpy_from_user,
)
from cofferos.errors import ConfigError
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

#: Returned by ``handle`` to let the next personality (or the kernel) serve the call.
NOT_HANDLED: Any = object()
#: System call numbers reserved for personality-defined calls.
RESERVED_FIRST, RESERVED_LAST = 1000, 1099
#: Cycles seccomp adds to a call: its fixed entry cost, then one filter program
#: (M: Linux seccomp_benchmark, 5.11: 18-29 ns entry, 17-40 ns first filter at 3 GHz;
#: docs/calibration.md).
SECCOMP_ENTRY_CYCLES, SECCOMP_FILTER_CYCLES = 75, 85
#: What a call ended by ``on_entry`` costs above kernel entry and exit: a seccomp
#: denial runs the filter and returns, it never does the call's work.
DENIAL_CYCLES = SECCOMP_ENTRY_CYCLES + SECCOMP_FILTER_CYCLES


class KillTask(Exception):
    """Raised by a hook: kill the calling process with ``signal``."""

    def __init__(self, signal: int, reason: str = "") -> None:
        super().__init__(reason or f"killed by a personality with signal {signal}")
        self.signal = signal


class PersonalityError(ConfigError):
    """A personality failed: it could not be loaded or created, a hook raised, or a
    hook returned what its contract does not allow. ``problem`` says what, naming
    the hook; ``cause`` is the exception the personality raised, if any."""

    def __init__(self, personality: str, hook: str, problem: str,
                 cause: BaseException | None = None) -> None:
        super().__init__(f"personality {personality!r}: {problem}")
        self.personality, self.hook, self.problem, self.cause = personality, hook, problem, cause


@dataclass(frozen=True)
class Option:
    """One option of a personality: its type, default and one-line description."""

    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class SchedulingPolicy:
    """A personality's scheduling policy for a task; None fields are left alone.

    ``slice_instructions`` replaces the coffer's slice; ``cores`` restricts the
    simulated cores a timing machine may place the task on; ``priority`` (lower
    first, as nice values) orders the task among those waiting for a core.
    """

    slice_instructions: int | None = None
    cores: frozenset[int] | None = None
    priority: int | None = None


@dataclass(slots=True)
class SyscallContext:
    """What every hook sees of one system call, and helpers to reach the caller's
    memory and filesystem as the kernel does.

    The helpers are the kernel's own (:mod:`cofferos.coffers.syscalls.uaccess` and
    :func:`~cofferos.coffers.syscalls.namei.resolve_path`): a pointer the guest could
    not read (or write) is ``FsError(EFAULT)``, never a host error, and a path is
    resolved with the caller's cwd, root and credentials. Every failure is an
    :class:`~cofferos.coffers.fs.FsError` whose ``errno`` is what the kernel would
    return; one that escapes ``on_entry`` or ``handle`` ends the call with that errno
    (the guest sees what the kernel itself would answer), anywhere else it is a
    failure of the personality like any other exception.
    """

    task: Task
    nr: int
    name: str
    args: list[int]
    state: dict[str, Any] | None = None  #: scratch space shared by hooks (make it if needed)

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes of the caller's memory at ``address`` (EFAULT where the guest
        could not read them). Inspecting is not charged: ``cost`` says what it costs."""
        return _guest_access(read_user, self.task, address, size)

    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` in the caller's memory at ``address`` (EFAULT where the guest
        could not write it, as a read-only page), charged as the kernel's copy_to_user."""
        _guest_access(copy_to_user, self.task, address, bytes(data))

    def read_string(self, address: int, max_size: int = PATH_MAX) -> str:
        """The NUL-terminated string at ``address``, decoded as the kernel decodes a path
        (undecodable bytes kept as surrogates); ENAMETOOLONG if no NUL comes within
        ``max_size`` bytes (the NUL included), EFAULT for a bad pointer."""
        if address == 0:
            raise FsError(errno.EFAULT, "NULL string")
        raw = _guest_access(strncpy_from_user, self.task, address, max_size)
        return raw.decode("utf-8", "surrogateescape")

    def resolve_path(self, path: int | str, dirfd: int = AT_FDCWD, follow: bool = True) -> str:
        """The absolute path inside the coffer that ``path`` names for the caller, as the
        kernel's lookup resolves it: from the caller's cwd (or the directory open on
        ``dirfd``), through symlinks and ``..``; the last name is followed only with
        ``follow`` and need not exist. ``path`` is a guest address (a call's argument) or
        a string. ENOENT for an empty path or a missing directory, EBADF or ENOTDIR for a
        bad ``dirfd``, ELOOP, EACCES, as the kernel would fail the call."""
        text = path if isinstance(path, str) else self.read_string(path)
        return resolve_path(self.task, fd_arg(dirfd), text, follow)


#: Option types the spec parser converts (``cofferos.personalities.registry``).
OPTION_TYPES = (int, str, float, bool)


def _check_option(cls: type, key: str, option: object) -> None:
    """TypeError naming the class and option unless ``option`` is a usable Option."""
    where = f"{cls.__module__}.{cls.__qualname__}: option {key!r}"
    if not isinstance(option, Option):
        raise TypeError(f"{where} is a {type(option).__name__}, not an Option(type, "
                        "default, help)")
    kind, default = option.type, option.default
    if kind not in OPTION_TYPES:
        raise TypeError(f"{where} has type {getattr(kind, '__name__', kind)!r}; option "
                        f"types are {', '.join(t.__name__ for t in OPTION_TYPES)}")
    numeric = kind is float and isinstance(default, int)  # 0 for a float is fine
    if (isinstance(default, bool) and kind is not bool) or not (
            isinstance(default, kind) or numeric):
        raise TypeError(f"{where} has type {kind.__name__} but its default {default!r} "
                        f"is a {type(default).__name__}")


def _guest_access(copy: Callable[..., Any], task: Task, *args: Any) -> Any:
    """A uaccess helper's answer; its MemoryFault (a bad guest pointer) as FsError(EFAULT),
    so that a hook has one exception to catch, with the errno the kernel would give."""
    try:
        return copy(task, *args)
    except MemoryFault as fault:
        raise FsError(errno.EFAULT, str(fault)) from None


class Personality:
    """Base class of every personality. All hooks are optional."""

    #: The name users type (``--personality NAME``); set by subclasses.
    name: ClassVar[str] = ""
    #: One line for ``coffersim personalities``.
    description: ClassVar[str] = ""
    #: Options accepted as ``NAME:key=value,...``.
    options: ClassVar[dict[str, Option]] = {}
    #: Optional declaration: True if :meth:`cost` answers from the call (``ctx.nr``,
    #: ``ctx.name``), ``cycles`` and the options alone: it reads no task, argument,
    #: ``state`` or time, and changes nothing. A call that reaches no other hook then
    #: has its cost hooks asked once, and later calls of that number are charged the
    #: same answer without calling them (until the stack or the costs change; not in a
    #: stack with a policy slot, whose calls all take the stack's path).
    static_cost: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the class's options when it is declared (a mistake there is the
        author's, so it fails at import, not in a user's run): each is an
        :class:`Option` of a type the spec parser converts, whose default has that type."""
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.options, dict):
            raise TypeError(f"{cls.__module__}.{cls.__qualname__}: options is a "
                            f"{type(cls.options).__name__}, not a dict of NAME: Option")
        for key, option in cls.options.items():
            _check_option(cls, key, option)

    def __init__(self, **options: Any) -> None:
        self.config = {key: option.default for key, option in self.options.items()}
        self.config.update(options)

    def hooks_for(self, name: str, nr: int) -> Collection[str] | None:
        """Optional declaration: which of this personality's per-call hooks
        (``"on_entry"``, ``"handle"``, ``"on_exit"``, ``"cost"``) the system call
        ``name`` (number ``nr``; ``ctx.name``'s name for it, ``syscall_NNNN`` for a
        number the kernel does not define) needs.
        None, the default: every hook the personality overrides, for every call.

        The stack asks once per call number when it is built or changed, so the answer
        may depend only on the call and this personality's options (never on a task,
        its arguments or the time). A hook left out is not called for that call, and a
        call that no hook of the stack needs runs as with no personality at all: the
        saving is the host time of the calls a personality does not care about."""
        return None

    def on_entry(self, ctx: SyscallContext) -> int | None:
        """Before the call: rewrite ``ctx.args``, or return a result to end the call."""
        return None

    def handle(self, ctx: SyscallContext) -> Any:
        """Serve the call instead of the kernel, or return NOT_HANDLED."""
        return NOT_HANDLED

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        """After the call: the result to return (rewrite it, or pass it on)."""
        return result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        """The kernel cycles this call costs under this personality."""
        return cycles

    def may_exec(self, task: Task, path: str) -> bool:
        """Policy: may ``task`` execute ``path``?"""
        return True

    def may_open(self, task: Task, path: str, write: bool) -> bool:
        """Policy: may ``task`` open ``path`` (for writing when ``write``)?"""
        return True

    def may_connect(self, task: Task, address: str, port: int) -> bool:
        """Policy: may ``task`` connect to ``address:port``?"""
        return True

    def scheduling(self, task: Task) -> SchedulingPolicy | None:
        """Policy: how ``task`` is scheduled (slice, priority, cores), or None to leave it."""
        return None

    def memory_limit(self) -> int | None:
        """Policy: bytes of address space the coffer may map, or None to leave it."""
        return None

    def mounts(self) -> list[tuple[str, str]]:
        """Filesystem view: (coffer path, host directory) pairs to mount, each imported
        copy-on-write like ``--rootfs`` (read-only paths are ``may_open``'s answer)."""
        return []

    def counters(self) -> dict[str, int | float]:
        """What this personality counted, by counter name (default: nothing).

        Read at the end of a run into ``RunResult.personality_counters`` (and so
        ``--stats``), and whenever a guest reads ``/proc/coffer/personalities``.
        Names are identifiers (letters, digits, ``_``), or dotted ones such as
        ``calls.write``; values are ints or floats."""
        return {}

    def __repr__(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.config.items())
        return f"{self.name}:{opts}" if opts else self.name
