"""Live policies as data: the rules an orchestrator applies to each agent while it runs.

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
``rollback``  the agent's workspace back to its checkpoint, taken once its audit shows
              ``checkpoint_writes`` write opens (the workspace set up)
``kill``      every task of the agent
``restore``   ``after_ms`` after the rule named ``after`` (a revoke or a set) took
              effect, the options it changed go back to the base's: a relaxation

How the orchestrator applies them, with which mechanism and cost per hosting model,
is :mod:`.orchestrator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cofferos.errors import ConfigError
from cofferos.personalities.builtin.agent import Agent
from cofferos.sim.agents.scenario import read_toml

POLICY_DIR = Path(__file__).resolve().parent.parent.parent / "workloads" / "policies"
ACTIONS = ("revoke", "set", "rollback", "kill", "restore")
#: revoke: the agent personality options that take each capability away.
CAPABILITIES = {"network": {"connect": ""}, "exec": {"exec": "/nonexistent/revoked"},
                "write": {"write": "/nonexistent/revoked"}}
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
    after: str = ""
    """restore: the rule whose change this one undoes."""
    after_ms: float = 0.0
    """restore: how long after that change took effect."""

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
    data, path = read_toml(name_or_path, POLICY_DIR, "policy")
    return parse(data, str(path))


def parse(data: dict[str, Any], where: str) -> Policy:
    base = data.get("base", {})
    if not isinstance(base, dict) or set(base) - set(Agent.options):
        raise ConfigError(f"{where}: [base] takes agent personality options: "
                          f"{', '.join(Agent.options)}")
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("rule", [])):
        here = f"{where} rule {index + 1}"
        known = {"name", "event", "action", "syscall", "errno", "count", "window_ms",
                 "capability", "options", "after", "after_ms"}
        if not isinstance(raw, dict) or set(raw) - known:
            raise ConfigError(f"{here}: keys are {', '.join(sorted(known))}")
        action = raw.get("action")
        if action not in ACTIONS:
            raise ConfigError(f"{here}: action must be one of {', '.join(ACTIONS)}")
        if action == "restore":
            rules.append(_restore(raw, here, rules))
            continue
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
        if rule.action in ("revoke", "set"):
            Agent(**{**policy.options_for("/work/a0"), **rule.change()})
    return policy


def _restore(raw: dict[str, Any], here: str, earlier: list[Rule]) -> Rule:
    """A restore rule: it names an earlier revoke or set rule and a delay."""
    undone = next((r for r in earlier if r.name == raw.get("after")), None)
    if undone is None or undone.action not in ("revoke", "set"):
        raise ConfigError(f"{here}: restore needs after = the name of an earlier revoke "
                          "or set rule")
    delay = raw.get("after_ms", 0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ConfigError(f"{here}: after_ms must be a number of at least 0")
    return Rule(name=str(raw.get("name", f"restore {undone.name}")), event="",
                action="restore", after=undone.name, after_ms=float(delay),
                options=undone.change())
