"""Live policies: an orchestrator that watches each agent's audit trail and tightens
its policy while it runs.

A policy (``--policy NAME|FILE.toml``, the shipped ones in workloads/policies/) is
the ``agent`` personality's options every agent starts with (``[base]``;
``{workspace}`` is the agent's /work/aI) and rules (``[[rule]]``): when an agent's
audit trail (:mod:`cofferos.personalities.builtin.agent`) holds ``count`` events
matching ``event`` (and ``syscall``, ``errno`` when given) within ``window_ms`` of
simulated time (0: ever), the rule fires once for that agent and its ``action``
is applied:

``revoke``    ``capability`` network (no connect), exec (no program) or write (no path)
``set``       ``options``: agent personality options to change (``rate = "exec=5/s"``,
              ``max_processes = 4``)
``rollback``  the agent's files back to its checkpoint, taken once its audit shows
              ``checkpoint_writes`` write opens (the workspace set up)
``kill``      every task of the agent

The orchestrator runs in the simulation: the machine calls it after every slice
(:meth:`Orchestrator.after_slice`, the hook fault injectors use), it reads the new
audit entries and a rule that fires is recorded with its simulated time
(``fired_ns``) and the time its change takes effect (``effect_ns``: fired plus the
mechanism's cost). The change is made through the closest real mechanism of the
hosting model (:data:`MECHANISMS`): on cofferos the personality stack's live change
(``change_personalities(at_ns=effect_ns)``: the first system call from then sees
it, none before); elsewhere a seccomp filter added (revoke), a cgroup limit
written (set), a container restart (rollback: the agent's processes end, and the
simulator does not start them again) and a container kill. Every agent runs the
``agent`` personality on every hosting model: it is the audit trail (auditd or a
seccomp log on Linux) and the enforcement the mechanisms stand for.
"""

from __future__ import annotations

import os
import signal
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos.coffers.fs import FsError
from cofferos.errors import ConfigError
from cofferos.personalities.builtin.agent import Agent

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.sim.machine import Machine

POLICY_DIR = Path(__file__).resolve().parent.parent.parent / "workloads" / "policies"
ACTIONS = ("revoke", "set", "rollback", "kill")
#: revoke: the agent personality options that take each capability away.
CAPABILITIES = {"network": {"connect": ""}, "exec": {"exec": "/nonexistent/revoked"},
                "write": {"write": "/nonexistent/revoked"}}
NS_PER_MS = 1_000_000
LIVE_CHANGE_NS = 2_000  #: E: a new personality stack swapped in between two calls
ROLLBACK_NS = 1_000_000  #: E: a coffer's filesystem copied back from its checkpoint
SECCOMP_ADD_NS = 100_000  #: E: a supervisor asks the task to add a filter (seccomp(2))
CGROUP_WRITE_NS = 50_000  #: E: a write to pids.max/cpu.max through cgroupfs
DIRECTORY_MODE, FILE_MODE = 0o755, 0o644  #: as the agent makes them (agent.c)
KILL_NS = 100_000  #: E: `docker kill` / a kill of every task, delivered
#: Hosting model kind -> action -> (mechanism, cost in ns; None: restart_container_ns).
MECHANISMS: dict[str, dict[str, tuple[str, int | None]]] = {
    "live": {"revoke": ("live personality change", LIVE_CHANGE_NS),
             "set": ("live personality change", LIVE_CHANGE_NS),
             "rollback": ("checkpoint rollback", ROLLBACK_NS),
             "kill": ("coffer killed", KILL_NS)},
    "container": {"revoke": ("seccomp filter added", SECCOMP_ADD_NS),
                  "set": ("cgroup limit changed", CGROUP_WRITE_NS),
                  "rollback": ("container restarted", None),
                  "kill": ("container killed", KILL_NS)},
}


@dataclass(frozen=True)
class Rule:
    name: str
    event: str
    action: str
    syscall: str = ""
    errno: str = ""
    count: int = 1
    window_ms: float = 0.0
    capability: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def matches(self, entry: dict[str, Any]) -> bool:
        return (entry.get("event") == self.event
                and (not self.syscall or entry.get("syscall") == self.syscall)
                and (not self.errno or entry.get("errno") == self.errno))

    def change(self) -> dict[str, Any]:
        """The agent personality options this rule's action sets."""
        return dict(CAPABILITIES[self.capability]) if self.action == "revoke" \
            else dict(self.options)


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    base: dict[str, Any]
    rules: tuple[Rule, ...]
    checkpoint_writes: int = 0

    def options_for(self, workspace: str) -> dict[str, Any]:
        return {key: value.replace("{workspace}", workspace) if isinstance(value, str)
                else value for key, value in self.base.items()}


def shipped() -> list[str]:
    return sorted(path.stem for path in POLICY_DIR.glob("*.toml"))


def load(name_or_path: str) -> Policy:
    """A shipped policy by name or a policy file (a one-line ConfigError when bad)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = POLICY_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"--policy {name_or_path}: no such policy; choose from "
                              f"{', '.join(shipped())} or give a .toml file")
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"--policy {path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--policy {path}: not TOML: {error}") from None
    return parse(data, str(path))


def parse(data: dict[str, Any], where: str) -> Policy:
    base = data.get("base", {})
    if not isinstance(base, dict) or set(base) - set(Agent.options):
        raise ConfigError(f"{where}: [base] takes agent personality options: "
                          f"{', '.join(Agent.options)}")
    rules = []
    for index, raw in enumerate(data.get("rule", [])):
        here = f"{where} rule {index + 1}"
        known = {"name", "event", "action", "syscall", "errno", "count", "window_ms",
                 "capability", "options"}
        if not isinstance(raw, dict) or set(raw) - known:
            raise ConfigError(f"{here}: keys are {', '.join(sorted(known))}")
        action = raw.get("action")
        if action not in ACTIONS:
            raise ConfigError(f"{here}: action must be one of {', '.join(ACTIONS)}")
        if not isinstance(raw.get("event"), str):
            raise ConfigError(f"{here}: event (an audit event: deny, exec, connect, "
                              "open_write, change) is required")
        if action == "revoke" and raw.get("capability") not in CAPABILITIES:
            raise ConfigError(f"{here}: revoke needs capability = "
                              f"{' | '.join(CAPABILITIES)}")
        options = raw.get("options", {})
        if action == "set" and (not isinstance(options, dict) or not options
                                or set(options) - set(Agent.options)):
            raise ConfigError(f"{here}: set needs options = {{...}} of agent personality "
                              "options")
        count, window = raw.get("count", 1), raw.get("window_ms", 0)
        if not isinstance(count, int) or count < 1 or not isinstance(window, int | float) \
                or window < 0:
            raise ConfigError(f"{here}: count must be at least 1 and window_ms at least 0")
        rules.append(Rule(name=str(raw.get("name", f"rule{index + 1}")), event=raw["event"],
                          action=action, syscall=str(raw.get("syscall", "")),
                          errno=str(raw.get("errno", "")), count=count,
                          window_ms=float(window), capability=str(raw.get("capability", "")),
                          options=dict(options)))
    writes = data.get("checkpoint_writes", 0)
    if not isinstance(writes, int) or writes < 0:
        raise ConfigError(f"{where}: checkpoint_writes must be a whole number")
    policy = Policy(name=str(data.get("name", Path(where).stem)),
                    description=str(data.get("description", "")), base=dict(base),
                    rules=tuple(rules), checkpoint_writes=writes)
    Agent(**policy.options_for("/work/a0"))  # bad option values: an error now
    for rule in policy.rules:
        Agent(**{**policy.options_for("/work/a0"), **rule.change()})
    return policy


@dataclass
class Firing:
    """One rule that fired for one agent, and when its change took effect."""

    agent: str
    rule: str
    action: str
    mechanism: str
    first_event_ns: int
    """The simulated time of the first audit event the rule counted."""
    fired_ns: int
    effect_ns: int
    cost_ns: int

    def row(self) -> dict[str, Any]:
        return {"agent": self.agent, "rule": self.rule, "action": self.action,
                "mechanism": self.mechanism, "first_event_ms": self.first_event_ns / NS_PER_MS,
                "fired_ms": self.fired_ns / NS_PER_MS, "effect_ms": self.effect_ns / NS_PER_MS,
                "cost_us": self.cost_ns / 1_000}


class Orchestrator:
    """Installs the policy's base in every agent and applies its rules (module doc).
    Attach with :meth:`prepare` (``run_mix``'s ``prepare``: coffer 0 is the model
    server, coffer 1 + i agent i)."""

    def __init__(self, policy: Policy, workspace: Any) -> None:
        self.policy = policy
        self.workspace = workspace
        self.firings: list[Firing] = []
        self.machine: Machine | None = None
        self._agents: dict[int, tuple[int, Coffer]] = {}  #: id(coffer) -> (index, coffer)
        self._seen: dict[int, int] = {}  #: id(coffer) -> audit entries read
        self._matched: dict[tuple[int, str], list[int]] = {}
        self._fired: set[tuple[int, str]] = set()
        self.checkpoints: dict[int, Any] = {}

    def prepare(self, machine: Machine) -> None:
        self.machine = machine
        machine.injector = self
        for index, coffer in enumerate(machine.coffers[1:]):
            personality = Agent(**self.policy.options_for(self.workspace(index)))
            coffer.dispatcher.personalities.replace([personality])
            self._agents[id(coffer)] = (index, coffer)
            self._seen[id(coffer)] = 0

    @staticmethod
    def agent_of(coffer: Coffer) -> Agent | None:
        return next((p for p in coffer.dispatcher.personalities.personalities
                     if isinstance(p, Agent)), None)

    # -- the machine's hook (as a fault injector's) ----------------------------------
    def after_slice(self, task: Any, core: int, calls: list[Any]) -> bool:
        key = id(task.coffer)
        if key not in self._agents:
            return False
        coffer = task.coffer
        agent = self.agent_of(coffer)
        if agent is None:
            return False
        new = agent.audit[self._seen[key]:]
        self._seen[key] = len(agent.audit)
        if key not in self.checkpoints and self._writes(agent) >= self.policy.checkpoint_writes:
            self.checkpoints[key] = snapshot(coffer, self.workspace(self._agents[key][0]))
        for entry in new:
            for rule in self.policy.rules:
                if (key, rule.name) in self._fired or not rule.matches(entry):
                    continue
                times = self._matched.setdefault((key, rule.name), [])
                times.append(int(entry["time_ns"]))
                if rule.window_ms:
                    since = times[-1] - rule.window_ms * NS_PER_MS
                    times[:] = [t for t in times if t >= since]
                if len(times) >= rule.count:
                    self._fire(coffer, agent, rule, times[0])
        return False

    @staticmethod
    def _writes(agent: Agent) -> int:
        return sum(1 for entry in agent.audit if entry["event"] == "open_write")

    def _fire(self, coffer: Coffer, agent: Agent, rule: Rule, first_ns: int) -> None:
        assert self.machine is not None
        self._fired.add((id(coffer), rule.name))
        arch = self.machine.arch
        kind = "live" if arch.name == "cofferos" else "container"
        mechanism, cost = MECHANISMS[kind][rule.action]
        cost = arch.restart_container_ns if cost is None else cost
        fired = coffer.monotonic_ns()
        effect = fired + cost
        self.firings.append(Firing(coffer.config.name, rule.name, rule.action, mechanism,
                                   first_ns, fired, effect, cost))
        if rule.action in ("revoke", "set"):
            options = {**agent.config, **rule.change()}
            tighter = Agent(**options)
            tighter.audit = agent.audit  # one trail across changes
            tighter.execs, tighter.bytes_written = agent.execs, agent.bytes_written
            stack = [tighter if p is agent else p
                     for p in coffer.dispatcher.personalities.personalities]
            coffer.dispatcher.change_personalities(stack, at_ns=effect)
        else:
            self.machine.env.process(self._later(coffer, rule.action, effect, kind))

    def _later(self, coffer: Coffer, action: str, when: int, kind: str) -> Any:
        assert self.machine is not None
        if when > self.machine.env.now:
            yield self.machine.env.timeout(when - self.machine.env.now)
        checkpoint = self.checkpoints.get(id(coffer))
        if action == "rollback" and kind == "live" and checkpoint is not None:
            restore(coffer, self.workspace(self._agents[id(coffer)][0]), checkpoint)
            return
        for task in list(coffer.tasks.values()):  # kill, or a container's restart
            if task.alive:
                coffer.kill_task(task, signal.SIGKILL, "personality-kill",
                                 f"policy: {action}")


def snapshot(coffer: Coffer, root: str) -> dict[str, bytes | None]:
    """The workspace under ``root``: relative path -> a file's bytes (None: a directory).
    (Agent.checkpoint copies the whole filesystem, which cannot be copied while
    processes map its files; the workspace is what a rollback must restore.)"""
    found: dict[str, bytes | None] = {}

    def walk(directory: Any, prefix: str) -> None:
        for name, inode in directory.entries():
            if name in (".", ".."):
                continue
            path = f"{prefix}{name}"
            if inode.is_dir():
                found[path] = None
                walk(inode, f"{path}/")
            elif inode.is_reg():
                found[path] = inode.read(0, inode.size)
    try:
        walk(coffer.fs.lookup(root, coffer.fs.root), "")
    except FsError:
        pass
    return found


def restore(coffer: Coffer, root: str, saved: dict[str, bytes | None]) -> None:
    """Put the workspace back as :func:`snapshot` saw it: files changed since are
    rewritten in place (open descriptors stay valid), new ones removed, lost ones made."""
    fs = coffer.fs
    now = snapshot(coffer, root)
    for path in sorted(set(now) - set(saved), reverse=True):  # children first
        parent, name = fs.lookup_parent(f"{root}/{path}", fs.root)
        if now[path] is None:
            fs.rmdir(parent, name)
        else:
            fs.unlink(parent, name)
    for path, data in sorted(saved.items()):
        full = f"{root}/{path}"
        if data is None:
            if path not in now:
                parent, name = fs.lookup_parent(full, fs.root)
                fs.mkdir(parent, name, DIRECTORY_MODE)
            continue
        if now.get(path) == data:
            continue
        inode = fs.open(full, fs.root, os.O_CREAT | os.O_WRONLY, FILE_MODE)
        inode.truncate(0)
        inode.write(0, data)
