"""``deterministic``: a fixed clock, a seeded generator, and record/replay of both.

The coffer's own clock and random source are already deterministic for one
configuration, but they move with everything that changes cycle counts (a cost
table, another personality, a new build of the guest). This personality takes
the guest's sources of non-determinism out of the kernel's hands:

- ``clock_gettime``, ``gettimeofday`` and ``time`` read a clock of its own that
  starts at ``clock_ns`` (wall clock; the monotonic and CPU clocks start at 0)
  and advances by ``step_ns`` on every call, whatever the guest did in between.
  Sleeps still advance the coffer's clock, not this one.
- ``getrandom`` is served from ``random.Random(seed)``.

With ``mode=record`` every completed system call is appended to ``log`` (the
file is truncated when the personality is created) as one JSON object a line::

    {"name": "clock_gettime", "args": [1, 140737488346512, 0, 0, 0, 0],
     "result": 0, "memory": [[1, "00e1d86900000000..."]]}

``args`` are the six argument registers as the kernel saw them, ``result`` the
value returned, and ``memory`` what the call wrote to guest memory for the calls
in :data:`WRITES` (``[argument index, hex bytes]``: the bytes went to the
address in that argument). With ``mode=replay`` the calls of :data:`REPLAYED`
(the clock calls and ``getrandom``) are served from the log, in order: each
writes the recorded bytes to the address in the same argument of the new call
and returns the recorded result. Other entries of the log are not replayed (the
kernel is deterministic for them). A call that does not match the next replayed
entry (another name, or a ``getrandom`` asking for fewer bytes than recorded), or
a log that runs out, kills the process with SIGSYS and says why in the oops list.
"""

from __future__ import annotations

import errno
import json
import random
import signal
from typing import IO, Any

from cofferos.coffers.syscalls.process import GETRANDOM_MAX
from cofferos.coffers.syscalls.time import (
    CPU_CLOCKS,
    MONOTONIC_CLOCKS,
    NS_PER_MICROSECOND,
    NS_PER_SECOND,
    REALTIME_CLOCKS,
    TIMEVAL,
    TIMEZONE,
)
from cofferos.coffers.syscalls.uaccess import I64, TIMESPEC, copy_to_user, signed
from cofferos.errors import ConfigError
from cofferos.personalities.base import NOT_HANDLED, KillTask, Option, Personality, SyscallContext

#: 2026-01-01T00:00:00Z, the default start of the wall clock.
DEFAULT_CLOCK_NS = 1_767_225_600_000_000_000
MODES = ("off", "record", "replay")
CLOCK_CALLS = frozenset({"clock_gettime", "gettimeofday", "time"})
#: Calls served from the log in replay mode.
REPLAYED = CLOCK_CALLS | {"getrandom"}
#: What a call writes to guest memory: (argument index, size; None: the result).
WRITES: dict[str, tuple[tuple[int, int | None], ...]] = {
    "clock_gettime": ((1, TIMESPEC.size),),
    "gettimeofday": ((0, TIMEVAL.size), (1, TIMEZONE.size)),
    "time": ((0, I64.size),),
    "getrandom": ((0, None),),
}


class Deterministic(Personality):
    name = "deterministic"
    description = "fixed stepping clock, seeded getrandom; record/replay of them to a log"
    options = {
        "clock_ns": Option(int, DEFAULT_CLOCK_NS, "wall clock at the first call, ns since 1970"),
        "step_ns": Option(int, 1000, "how far the clock advances on each clock call"),
        "seed": Option(int, 0, "seed of the getrandom generator"),
        "mode": Option(str, "off", "off, record (append calls to log) or replay (from log)"),
        "log": Option(str, "", "host path of the record/replay log (JSON lines)"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.mode = str(self.config["mode"])
        if self.mode not in MODES:
            raise ConfigError(f"deterministic: mode must be off, record or replay, "
                              f"not {self.mode!r}")
        if self.mode != "off" and not self.config["log"]:
            raise ConfigError(f"deterministic: mode={self.mode} needs log=PATH")
        self.random = random.Random(int(self.config["seed"]))
        self.elapsed_ns = 0
        self.log: IO[str] | None = None
        self.replay: list[dict[str, Any]] = []
        self.replayed = 0
        if self.mode == "record":
            self.log = open(self.config["log"], "w", buffering=1)  # noqa: SIM115 - kept open
        elif self.mode == "replay":
            self.replay = _load(str(self.config["log"]))

    def counters(self) -> dict[str, int | float]:
        """Simulated nanoseconds the stepping clock has advanced, calls replayed."""
        return {"clock_elapsed_ns": self.elapsed_ns, "replayed": self.replayed}

    def hooks_for(self, name: str, nr: int) -> list[str]:
        """handle serves the clock calls and getrandom; on_exit records every call."""
        hooks = ["handle"] if name in REPLAYED else []
        if self.mode == "record":
            hooks.append("on_exit")
        return hooks

    # -- serving calls ---------------------------------------------------------------

    def handle(self, ctx: SyscallContext) -> Any:
        if ctx.name not in REPLAYED:
            return NOT_HANDLED
        if self.mode == "replay":
            return self._replay(ctx)
        if ctx.name == "getrandom":
            count = min(ctx.args[1], GETRANDOM_MAX)
            copy_to_user(ctx.task, ctx.args[0], self.random.randbytes(count))
            return count
        return self._clock(ctx)

    def _clock(self, ctx: SyscallContext) -> int:
        monotonic = self.elapsed_ns
        realtime = int(self.config["clock_ns"]) + monotonic
        self.elapsed_ns += int(self.config["step_ns"])
        task, args = ctx.task, ctx.args
        if ctx.name == "clock_gettime":
            clock_id = signed(args[0], 32)
            if clock_id in REALTIME_CLOCKS:
                now = realtime
            elif clock_id in MONOTONIC_CLOCKS or clock_id in CPU_CLOCKS:
                now = monotonic
            else:
                return -errno.EINVAL
            copy_to_user(task, args[1], TIMESPEC.pack(*divmod(now, NS_PER_SECOND)))
            return 0
        seconds, ns = divmod(realtime, NS_PER_SECOND)
        if ctx.name == "gettimeofday":
            if args[0]:
                copy_to_user(task, args[0], TIMEVAL.pack(seconds, ns // NS_PER_MICROSECOND))
            if args[1]:
                copy_to_user(task, args[1], TIMEZONE.pack(0, 0))
            return 0
        if args[0]:  # time
            copy_to_user(task, args[0], I64.pack(seconds))
        return seconds

    def _replay(self, ctx: SyscallContext) -> int:
        if self.replayed >= len(self.replay):
            raise KillTask(signal.SIGSYS, f"deterministic: replay log exhausted at "
                                          f"{ctx.name} (after {self.replayed} calls)")
        entry = self.replay[self.replayed]
        if entry["name"] != ctx.name:
            raise KillTask(signal.SIGSYS, f"deterministic: replay mismatch at call "
                                          f"{self.replayed}: guest called {ctx.name}, "
                                          f"log has {entry['name']}")
        memory = [(index, bytes.fromhex(data)) for index, data in entry.get("memory", [])]
        if ctx.name == "getrandom" and memory and len(memory[0][1]) > ctx.args[1]:
            raise KillTask(signal.SIGSYS, f"deterministic: replay mismatch at call "
                                          f"{self.replayed}: getrandom of {ctx.args[1]} "
                                          f"bytes, log has {len(memory[0][1])}")
        self.replayed += 1
        for index, data in memory:
            if ctx.args[index]:
                copy_to_user(ctx.task, ctx.args[index], data)
        return int(entry["result"])

    # -- recording -------------------------------------------------------------------

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        if self.log is not None:
            entry = {"name": ctx.name, "args": list(ctx.args), "result": result,
                     "memory": _written(ctx, result)}
            self.log.write(json.dumps(entry) + "\n")
        return result


def _written(ctx: SyscallContext, result: int) -> list[list[Any]]:
    """What a call of :data:`WRITES` wrote to guest memory, as [argument, hex]."""
    if result < 0 or ctx.name not in WRITES:
        return []
    memory = []
    for index, size in WRITES[ctx.name]:
        address = ctx.args[index]
        if address:
            memory.append([index, ctx.task.cpu.read(address, result if size is None
                                                    else size).hex()])
    return memory


def _load(path: str) -> list[dict[str, Any]]:
    """The replayed entries of a recorded log, in order."""
    try:
        with open(path) as log:
            entries = [json.loads(line) for line in log if line.strip()]
    except OSError as err:
        raise ConfigError(f"deterministic: cannot read log {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"deterministic: log {path} is not JSON lines: {err}") from None
    return [entry for entry in entries if entry.get("name") in REPLAYED]
