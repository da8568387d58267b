"""The orchestrator of live policies: it watches each agent's audit trail while the
machine runs and applies the rules of a :class:`~.policy.Policy`.

It runs in the simulation: the machine calls :meth:`Orchestrator.after_slice` after
every slice (the hook fault injectors use), it reads the new audit entries, and a
rule that fires is recorded (:class:`Firing`) with its simulated time (``fired_ns``)
and the time its change takes effect (``effect_ns``: fired plus the mechanism's
cost). The change is made through the closest real mechanism of the hosting model
(:data:`MECHANISMS`):

* on cofferos, the personality stack's live change
  (``change_personalities(at_ns=effect_ns)``: the first system call from then sees
  the new stack, none before); a rollback rewrites the workspace from its checkpoint
  in place; a restore is one more live change;
* elsewhere (Linux containers, VMs, sandboxes), a seccomp filter added (revoke), a
  cgroup limit written (set), a container restart (rollback: the agent's processes
  end, and the simulator does not start them again) and a container kill. A seccomp
  filter can only be added: a restore of a revoke is refused (recorded, with no
  effect); a restore of a set is one more cgroup write.

Every agent runs the ``agent`` personality on every hosting model: it is the audit
trail (auditd or a seccomp log on Linux) and the enforcement that each mechanism
stands for. Costs are estimates (E), as said at each constant.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cofferos.coffers.fs import FsError
from cofferos.personalities.builtin.agent import Agent
from cofferos.sim.agents.policy import Policy, Rule

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.sim.machine import Machine

NS_PER_MS = 1_000_000
NS_PER_US = 1_000
LIVE_CHANGE_NS = 2_000  #: E: a new policy object built and swapped in between two calls
ROLLBACK_NS = 1_000_000  #: E: a small workspace rewritten from its checkpoint
COFFER_KILL_NS = 100_000  #: E: every task of one coffer signalled and reaped
#: E: a supervisor in the container asks the agent's processes to add a filter
#: (seccomp(2) cannot attach a filter to another task): a signal, a BPF load, a reply.
SECCOMP_ADD_NS = 100_000
CGROUP_WRITE_NS = 50_000  #: E: a write to pids.max or cpu.max through cgroupfs
#: E: `docker kill`: dockerd -> containerd -> runc round trips, then the signals.
CONTAINER_KILL_NS = 50_000_000
DIRECTORY_MODE, FILE_MODE = 0o755, 0o644  #: as the agent makes them (agent.c)
REFUSED = "refused: a seccomp filter can only be added"
#: Hosting model kind -> action -> (mechanism, cost in ns; None: the architecture's
#: restart_container_ns, sim/kernels.py).
MECHANISMS: dict[str, dict[str, tuple[str, int | None]]] = {
    "live": {"revoke": ("live personality change", LIVE_CHANGE_NS),
             "set": ("live personality change", LIVE_CHANGE_NS),
             "restore": ("live personality change", LIVE_CHANGE_NS),
             "rollback": ("checkpoint rollback", ROLLBACK_NS),
             "kill": ("coffer killed", COFFER_KILL_NS)},
    "container": {"revoke": ("seccomp filter added", SECCOMP_ADD_NS),
                  "set": ("cgroup limit changed", CGROUP_WRITE_NS),
                  "restore": ("cgroup limit changed", CGROUP_WRITE_NS),
                  "rollback": ("container restarted", None),
                  "kill": ("container killed", CONTAINER_KILL_NS)},
}


@dataclass
class Firing:
    """One rule that fired for one agent, and when its change took effect."""

    agent: str
    rule: str
    action: str
    mechanism: str
    first_event_ns: int
    """The simulated time of the first audit event the rule counted (a restore: the
    time the change it undoes took effect)."""
    fired_ns: int
    effect_ns: int
    cost_ns: int
    applied: bool = True
    """False: the hosting model has no mechanism for it (a seccomp filter removed)."""

    def row(self) -> dict[str, Any]:
        return {"agent": self.agent, "rule": self.rule, "action": self.action,
                "mechanism": self.mechanism, "applied": self.applied,
                "first_event_ms": self.first_event_ns / NS_PER_MS,
                "fired_ms": self.fired_ns / NS_PER_MS, "effect_ms": self.effect_ns / NS_PER_MS,
                "cost_us": self.cost_ns / NS_PER_US}


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
        self._latest: dict[int, Agent] = {}  #: id(coffer) -> its newest (maybe pending) policy
        self.checkpoints: dict[int, Any] = {}

    def prepare(self, machine: Machine) -> None:
        self.machine = machine
        machine.injector = self
        from cofferos.sim.agents.measures import SERVICES

        agents = [c for c in machine.coffers if c.config.name not in SERVICES]
        for index, coffer in enumerate(agents):
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
                if rule.action == "restore" or (key, rule.name) in self._fired \
                        or not rule.matches(entry):
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
        kind = self._kind()
        mechanism, cost = self._mechanism(kind, rule.action)
        fired = coffer.monotonic_ns()
        effect = fired + cost
        self.firings.append(Firing(coffer.config.name, rule.name, rule.action, mechanism,
                                   first_ns, fired, effect, cost))
        if rule.action in ("revoke", "set"):
            self._change(coffer, agent, rule.change(), effect)
            for later in self.policy.rules:
                if later.action == "restore" and later.after == rule.name:
                    when = effect + int(later.after_ms * NS_PER_MS)
                    self.machine.env.process(self._restore(coffer, later, rule, effect, when))
        else:
            self.machine.env.process(self._later(coffer, rule.action, effect, kind))

    def _kind(self) -> str:
        assert self.machine is not None
        return "live" if self.machine.arch.name == "cofferos" else "container"

    def _mechanism(self, kind: str, action: str) -> tuple[str, int]:
        assert self.machine is not None
        mechanism, cost = MECHANISMS[kind][action]
        return mechanism, self.machine.arch.restart_container_ns if cost is None else cost

    def _change(self, coffer: Coffer, agent: Agent, options: dict[str, Any],
                at_ns: int) -> None:
        """Install, from ``at_ns``, the agent personality with ``options`` changed. A
        change still pending is built on (two rules firing close together both count)."""
        base = self._latest.get(id(coffer), agent)
        changed = Agent(**{**base.config, **options})
        changed.audit = agent.audit  # one trail across changes
        changed.execs, changed.bytes_written = agent.execs, agent.bytes_written
        self._latest[id(coffer)] = changed
        stack = [changed if isinstance(p, Agent) else p
                 for p in coffer.dispatcher.personalities.personalities]
        coffer.dispatcher.change_personalities(stack, at_ns=at_ns)

    def _restore(self, coffer: Coffer, rule: Rule, undone: Rule, since_ns: int,
                 when: int) -> Any:
        """``rule`` (a restore) at ``when``: the options ``undone`` changed go back to
        the base's, or, where the change was a seccomp filter, the refusal is recorded."""
        assert self.machine is not None
        if when > self.machine.env.now:
            yield self.machine.env.timeout(when - self.machine.env.now)
        agent = self.agent_of(coffer)
        if agent is None or not any(task.alive for task in coffer.tasks.values()):
            return
        kind = self._kind()
        fired = int(self.machine.env.now)  # the coffer's clock stands still between slices
        if kind == "container" and undone.action == "revoke":
            self.firings.append(Firing(coffer.config.name, rule.name, rule.action, REFUSED,
                                       since_ns, fired, fired, 0, applied=False))
            return
        mechanism, cost = self._mechanism(kind, "restore")
        base = self.policy.options_for(self.workspace(self._agents[id(coffer)][0]))
        defaults = {key: option.default for key, option in Agent.options.items()}
        self._change(coffer, agent, {key: base.get(key, defaults[key]) for key in rule.options},
                     fired + cost)
        self.firings.append(Firing(coffer.config.name, rule.name, rule.action, mechanism,
                                   since_ns, fired, fired + cost, cost))

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
