"""What /proc reads from a task and its coffer, in one place.

The task model grows (threads, process groups, signals), so procfs reads task
and process state only through these small functions, each with the value
Linux would show when the model does not have the attribute yet: a task is its
own thread group leader, its process group and session are its thread group,
its credentials are root's. Every value comes from the coffer's objects; none
from the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.task import Task

RUNNING = "R"
ZOMBIE = "Z"


@dataclass(frozen=True)
class Ids:
    """A task's credentials as /proc/PID/status lists them: real, effective, saved, fs."""

    uid: tuple[int, int, int, int]
    gid: tuple[int, int, int, int]
    groups: tuple[int, ...]


def process_of(task: Task) -> Any:
    """The task's thread group object if the model has one, else the task itself."""
    return getattr(task, "process", task)


def tgid(task: Task) -> int:
    return int(getattr(task, "tgid", task.pid))


def ppid(task: Task) -> int:
    return int(getattr(task, "ppid", 0))


def pgid(task: Task) -> int:
    return int(getattr(task, "pgid", getattr(process_of(task), "pgid", tgid(task))))


def sid(task: Task) -> int:
    return int(getattr(task, "sid", getattr(process_of(task), "sid", tgid(task))))


def comm(task: Task) -> str:
    return str(getattr(task, "comm", ""))


def state(task: Task) -> str:
    """The state letter (R, S, T, Z ...)."""
    return str(getattr(getattr(task, "state", None), "value", RUNNING))


def ids(task: Task) -> Ids:
    creds = getattr(task, "creds", None)

    def get(name: str, default: int = 0) -> int:
        return int(getattr(creds, name, default))

    uid, euid, gid, egid = get("uid"), get("euid"), get("gid"), get("egid")
    return Ids(uid=(uid, euid, get("suid", euid), get("fsuid", euid)),
               gid=(gid, egid, get("sgid", egid), get("fsgid", egid)),
               groups=tuple(getattr(creds, "groups", ())))


def argv(task: Task) -> list[bytes]:
    return list(getattr(task, "argv", []))


def envp(task: Task) -> list[bytes]:
    return list(getattr(task, "envp", []))


def exe_path(task: Task) -> str:
    return str(getattr(task, "exe_path", ""))


def start_ns(task: Task) -> int:
    """When the process started, on the coffer's monotonic clock (0: at boot)."""
    return int(getattr(process_of(task), "start_ns", 0))


def user_cycles(task: Task) -> int:
    own = getattr(task, "user_cycles", None)
    if own is not None:
        return int(own)
    return int(task.cpu.counter.cycles)


def kernel_cycles(task: Task) -> int:
    return int(getattr(task, "kernel_cycles", 0))


def blocked(task: Task) -> int:
    """The signal mask."""
    return int(getattr(task, "blocked", 0))


def exit_code(task: Task) -> int:
    """The wait status of a task that has exited, else 0 (the last field of stat)."""
    status = getattr(process_of(task), "exit_status", None) or getattr(task, "exit_status", None)
    return int(getattr(status, "wait_status", 0)) if status is not None else 0


def tasks(coffer: Coffer) -> list[Task]:
    """Every task of the coffer, by pid."""
    table: dict[int, Task] = getattr(coffer, "tasks", {})
    return [table[pid] for pid in sorted(table)]


def find_task(coffer: Coffer, pid: int) -> Task | None:
    return getattr(coffer, "tasks", {}).get(pid)


def threads(coffer: Coffer, task: Task) -> list[Task]:
    """The tasks of ``task``'s thread group, by pid."""
    group = tgid(task)
    return [t for t in tasks(coffer) if tgid(t) == group]


def leaders(coffer: Coffer) -> list[Task]:
    """One task per thread group, the leader (pid == tgid), by pid: what /proc lists."""
    return [t for t in tasks(coffer) if t.pid == tgid(t)]


def current(coffer: Coffer) -> Task | None:
    """The calling task: the coffer's ``current`` while a system call runs; outside
    one (a test, a report), the live task with the lowest pid."""
    task: Task | None = getattr(coffer, "current", None)
    if task is not None and find_task(coffer, task.pid) is task:
        return task
    live = [t for t in tasks(coffer) if state(t) != ZOMBIE]
    return live[0] if live else None


def fds(task: Task) -> dict[int, OpenFile]:
    """The task's open descriptors, by number."""
    table = getattr(getattr(task, "files", None), "fds", {})
    return {fd: table[fd].file for fd in sorted(table)}


def mapped_bytes(coffer: Coffer) -> int:
    """Bytes mapped by all the coffer's address spaces (each shared one counted once)."""
    account = getattr(coffer, "memory", None)
    if account is not None and hasattr(account, "used_bytes"):
        return int(account.used_bytes)
    spaces = {id(t.mm): t.mm for t in tasks(coffer) if getattr(t, "mm", None) is not None}
    return sum(mm.mapped_bytes for mm in spaces.values())


SIG_DFL, SIG_IGN = 0, 1


@dataclass(frozen=True)
class SignalMasks:
    """The signal sets /proc/PID/status shows, as bit masks (bit n-1 for signal n)."""

    pending: int = 0
    shared_pending: int = 0
    blocked: int = 0
    ignored: int = 0
    caught: int = 0


def _pending_mask(queue: object) -> int:
    return int(getattr(queue, "mask", 0) or 0)


def signal_masks(task: Task) -> SignalMasks:
    process = process_of(task)
    actions = getattr(getattr(process, "handlers", None), "actions", {})
    ignored = caught = 0
    for sig, action in actions.items():
        handler = getattr(action, "handler", SIG_DFL)
        if handler == SIG_IGN:
            ignored |= 1 << (sig - 1)
        elif handler != SIG_DFL:
            caught |= 1 << (sig - 1)
    shared = _pending_mask(getattr(process, "pending", None)) if process is not task else 0
    return SignalMasks(pending=_pending_mask(getattr(task, "pending", None)),
                       shared_pending=shared, blocked=blocked(task),
                       ignored=ignored, caught=caught)


RLIM_INFINITY = (1 << 64) - 1


def rlimit(task: Task, which: int) -> tuple[int, int]:
    """(soft, hard) of the resource limit ``which`` (RLIMIT_*); unlimited if not set."""
    limits: dict[int, tuple[int, int]] = getattr(task, "rlimits", {})
    return limits.get(which, (RLIM_INFINITY, RLIM_INFINITY))
