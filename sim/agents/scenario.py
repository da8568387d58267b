"""Agent scenarios (TOML) and the seeded, deterministic traces made from them.

A scenario says what a kind of agent does, in distributions; a trace is one draw
of it for N agents, the turns the model server replays (workloads/src/modelserver.c):
one line per turn, ``AGENT IN_TOKENS OUT_TOKENS THINK_US KIND ARGS``, where KIND
is a tool (``shell``, ``read``, ``write``, ``patch``, ``build``, ``search``,
``fetch``) or ``final`` (the task's answer). A scenario file::

    name = "coding"
    description = "edit, build, test loops"
    tasks = 2                     # tasks per agent
    turns = [4, 8]                # tool calls per task, uniform, inclusive
    think_us = [200, 2000]        # agent-side pause before each tool call, uniform

    [tokens]
    prompt = [1200, 2400]         # input tokens of a task's first request, uniform
    growth = 150                  # the context grows by this per turn
    output_mean = 120             # output tokens per turn: normal, clipped below
    output_sd = 50
    output_min = 8

    [files]                       # the workspace: written by the first task's setup
    dir = "src"
    suffix = ".c"
    count = 4
    bytes = 2000

    [tools]                       # relative weights of the tool calls
    write = 1
    patch = 3
    read = 2
    build = 2
    shell = 2
    search = 1

    [commands]
    shell = ["ls -l src", "wc -l src/*.c"]   # busybox sh -c, in the workspace
    search = ["int", "patched"]               # words searched for

    [web]                         # a web service the fetch tool (and $WEB) reaches
    pages = 8                     # /index.html and /p0.html ... /p7.html
    page_bytes = 3000

and, at the top, ``python3 = true`` when shell commands run python3 scripts
(the agents' tree then holds the host's python3, see :mod:`.pytools`).

The same scenario, agent count and seed give the same trace, byte for byte
(``random.Random`` seeded per agent; no hash-randomised iteration).
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cofferos.errors import ConfigError

#: Tools the agent workload implements (workloads/src/agent.c ``run_tool``).
TOOLS = ("shell", "read", "write", "patch", "build", "search", "fetch")
FINAL = "final"
#: Where the shipped scenarios live.
SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "workloads" / "scenarios"
#: Bytes of one line the write tool emits, about (agent.c ``tool_write``): patch
#: targets a line within the file.
LINE_BYTES = 32
#: Seeds of different agents are this far apart (any odd constant keeps them distinct).
AGENT_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    tasks: int
    turns: tuple[int, int]
    think_us: tuple[int, int]
    prompt: tuple[int, int]
    growth: int
    output_mean: float
    output_sd: float
    output_min: int
    files_dir: str
    files_suffix: str
    files_count: int
    file_bytes: int
    tools: dict[str, float]
    shell: tuple[str, ...]
    search: tuple[str, ...]
    web_pages: int = 0
    """Pages of the scenario's web service (0: it has none)."""
    page_bytes: int = 0
    python3: bool = False
    """The agents' tools run python3 scripts: their tree holds the host's python3
    (:mod:`.pytools`)."""

    @property
    def files(self) -> list[str]:
        return [f"{self.files_dir}/f{i}{self.files_suffix}" for i in range(self.files_count)]


def shipped() -> list[str]:
    """Names of the scenarios shipped in :data:`SCENARIO_DIR`."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path (one-line ConfigError if bad)."""
    data, path = read_toml(name_or_path, SCENARIO_DIR, "scenario")
    return parse(data, str(path))


def read_toml(name_or_path: str, directory: Path, option: str) -> tuple[dict[str, Any], Path]:
    """The TOML file shipped in ``directory`` under a bare name, or the file at a path,
    parsed; every problem is one ConfigError naming ``--option``."""
    path = Path(name_or_path)
    if not path.suffix:
        path = directory / f"{name_or_path}.toml"
        if not path.is_file():
            shipped_names = sorted(found.stem for found in directory.glob("*.toml"))
            raise ConfigError(f"--{option} {name_or_path}: no such {option}; choose from "
                              f"{', '.join(shipped_names)} or give a .toml file")
    try:
        return tomllib.loads(path.read_text()), path
    except OSError as error:
        raise ConfigError(f"--{option} {path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--{option} {path}: not TOML: {error}") from None


def _pair(data: dict[str, Any], key: str, where: str) -> tuple[int, int]:
    value = data.get(key)
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and v >= 0 for v in value) or value[0] > value[1]):
        raise ConfigError(f"{where}: {key} must be [LOW, HIGH], whole numbers, LOW <= HIGH")
    return value[0], value[1]


def _number(data: dict[str, Any], key: str, where: str, minimum: float = 0) -> Any:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}: {key} must be a number of at least {minimum:g}")
    return value


def parse(data: dict[str, Any], where: str) -> Scenario:
    """A Scenario from parsed TOML (errors name the file and the key)."""
    tokens = data.get("tokens", {})
    files = data.get("files", {})
    tools = data.get("tools", {})
    commands = data.get("commands", {})
    web = data.get("web", {})
    for section, value in (("tokens", tokens), ("files", files), ("tools", tools),
                           ("commands", commands), ("web", web)):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise ConfigError(f"{where}: unknown tool {unknown[0]!r}; choose from {', '.join(TOOLS)}")
    weights = {tool: float(_number(tools, tool, where)) for tool in tools}
    if not any(weights.values()):
        raise ConfigError(f"{where}: [tools] needs at least one positive weight")
    lists = {}
    for key in ("shell", "search"):
        value = commands.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: commands.{key} must be a list of strings")
        if weights.get(key) and not value:
            raise ConfigError(f"{where}: the {key} tool has a weight but no commands.{key}")
        lists[key] = tuple(value)
    python3 = data.get("python3", False)
    if not isinstance(python3, bool):
        raise ConfigError(f"{where}: python3 must be true or false")
    pages = int(_number(web, "pages", f"{where} [web]", 1)) if web else 0
    if weights.get("fetch") and not pages:
        raise ConfigError(f"{where}: the fetch tool has a weight but no [web] pages")
    return Scenario(
        name=str(data.get("name", Path(where).stem)),
        description=str(data.get("description", "")),
        tasks=int(_number(data, "tasks", where, 1)),
        turns=_pair(data, "turns", where), think_us=_pair(data, "think_us", where),
        prompt=_pair(tokens, "prompt", f"{where} [tokens]"),
        growth=int(_number(tokens, "growth", f"{where} [tokens]")),
        output_mean=float(_number(tokens, "output_mean", f"{where} [tokens]", 1)),
        output_sd=float(_number(tokens, "output_sd", f"{where} [tokens]")),
        output_min=int(_number(tokens, "output_min", f"{where} [tokens]", 1)),
        files_dir=str(files.get("dir", "src")), files_suffix=str(files.get("suffix", "")),
        files_count=int(_number(files, "count", f"{where} [files]", 1)),
        file_bytes=int(_number(files, "bytes", f"{where} [files]", 1)),
        tools=weights, shell=lists["shell"], search=lists["search"], web_pages=pages,
        page_bytes=int(_number(web, "page_bytes", f"{where} [web]", 1)) if web else 0,
        python3=python3)


@dataclass(frozen=True)
class Turn:
    agent: int
    in_tokens: int
    out_tokens: int
    think_us: int
    call: str
    """``KIND ARGS`` or ``final``."""

    def line(self) -> str:
        return f"{self.agent} {self.in_tokens} {self.out_tokens} {self.think_us} {self.call}"


def _call(rng: random.Random, scenario: Scenario, tool: str) -> str:
    files = scenario.files
    if tool == "shell":
        return f"shell {rng.choice(scenario.shell)}"
    if tool == "search":
        return f"search {rng.choice(scenario.search)}"
    if tool == "build":
        return "build"
    if tool == "fetch":
        return f"fetch /p{rng.randrange(scenario.web_pages)}.html"
    path = rng.choice(files)
    if tool == "write":
        return f"write {path} {scenario.file_bytes}"
    if tool == "patch":
        return f"patch {path} {rng.randrange(max(scenario.file_bytes // LINE_BYTES, 1))}"
    return f"read {path}"


def agent_turns(scenario: Scenario, agent: int, seed: int) -> list[Turn]:
    """The turns of one agent: its tasks, each tool calls then the final answer."""
    rng = random.Random(seed * AGENT_SEED_STRIDE + agent)
    tools = [tool for tool in TOOLS if scenario.tools.get(tool, 0) > 0]
    weights = [scenario.tools[tool] for tool in tools]
    turns: list[Turn] = []
    for task in range(scenario.tasks):
        calls = [f"write {path} {scenario.file_bytes}" for path in scenario.files] \
            if task == 0 else []  # the first task sets the workspace up
        calls += [_call(rng, scenario, rng.choices(tools, weights)[0])
                  for _ in range(rng.randint(*scenario.turns))]
        context = rng.randint(*scenario.prompt)
        for call in [*calls, FINAL]:
            out = max(scenario.output_min,
                      round(rng.gauss(scenario.output_mean, scenario.output_sd)))
            turns.append(Turn(agent, context, out, rng.randint(*scenario.think_us), call))
            context += scenario.growth + out
    return turns


def trace(scenario: Scenario, agents: int, seed: int) -> list[Turn]:
    """Every agent's turns, agent by agent."""
    return [turn for agent in range(agents) for turn in agent_turns(scenario, agent, seed)]


def trace_text(turns: list[Turn]) -> str:
    return "".join(f"{turn.line()}\n" for turn in turns)
