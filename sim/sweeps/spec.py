"""Sweep specifications: a TOML file that names a design space, resolved to point configurations.

The specification layer of ``coffersim sweep`` (docs/sweeps.md). A spec has a
``[base]`` configuration, a ``[vary]`` table of base keys with lists of values
(cartesian ``product`` or element-wise ``zip``) and ``[repeat] seeds = N``. It
resolves to a list of *points*: plain, JSON-serialisable dictionaries with every
key of :data:`BASE_DEFAULTS` filled in, each with a stable id (:func:`point_id`).

Everything is checked here, before anything runs: every error is one
:class:`~cofferos.errors.ConfigError` line naming the file, the key and its line
(found by :mod:`cofferos.sim.sweeps.toml_lines`; numbers must be finite and within
:data:`LIMITS`; a sweep has at most :data:`MAX_POINTS` points). A point whose
workload is a program path also carries ``program_sha256``, the SHA-256 of the
file's content, so recompiling the program changes the point's id.

    >>> spec = parse_text('[base]\\nworkload = "@hello"\\n[vary]\\ncores = [1, 2]\\n')
    >>> [point["config"]["cores"] for point in spec.points]
    [1, 2]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cofferos import __version__, bounds
from cofferos.errors import ConfigError, SimError
from cofferos.sim.sweeps.interrupts import held_interrupts
from cofferos.sim.sweeps.spec_keys import (  # noqa: F401 (re-exported: the spec's names)
    HASH_CHUNK_BYTES,
    IMAGE_HASH_KEY,
    LIBC_SEPARATOR,
    LIMITS,
    MAX_CONTAINERS,
    MAX_CORES,
    MAX_DURATION_MS,
    MAX_SEEDS,
    MAX_TIMEOUT_S,
    POINT_EXPERIMENTS,
    WORKLOAD_PREFIX,
    check_number,
    file_sha256,
    image_keys,
    key_validators,
)
from cofferos.sim.sweeps.toml_lines import key_line

#: Every key of ``[base]`` with its default (``args`` None: the workload's default_args).
BASE_DEFAULTS: dict[str, Any] = {
    "workload": None, "args": None, "kernel": "cofferos", "personalities": [], "cores": 4,
    "containers": 1, "cost": [], "seed": 0, "duration_ms": 0, "op_syscall": "",
    "timeout_s": 600, "probes": [], "image": "",
    # the agents experiment (docs/agents.md): experiment = "agents" runs it at the point,
    # containers agents under a hosting model; scenario, density_limit (its --set density=)
    # and misbehave its settings
    "experiment": "", "hosting": "", "scenario": "", "density_limit": 0, "misbehave": ""}
#: Keys of a point's configuration that do not change its result, so not part of its id.
NOT_IN_ID = ("timeout_s",)
#: Keys left out of a point that has their default, so that points of specs written
#: before the key existed keep their ids (and their results, on --resume).
OMITTED_AT_DEFAULT = ("image", "experiment", "hosting", "scenario", "density_limit",
                      "misbehave")
TOP_LEVEL = ("name", "base", "vary", "repeat")
MODES = ("product", "zip")
ID_HEX_DIGITS = 16  #: a point id is this many hex digits of a SHA-256
#: The key a point with a program-path workload gets: the SHA-256 of the program's content.
PROGRAM_HASH_KEY = "program_sha256"
MAX_POINTS = 100_000  #: points of one sweep (vary combinations x seeds)


@dataclass
class SweepSpec:
    """A parsed and validated sweep specification."""

    name: str
    source: str
    """The file it came from (``<string>`` for text)."""
    text: str
    parsed: dict[str, Any]
    points: list[dict[str, Any]] = field(default_factory=list)
    """Each ``{"id": str, "config": dict}``, in sweep order (repeats innermost)."""
    seeds: int = 1


def point_id(config: dict[str, Any]) -> str:
    """The first 16 hex digits of SHA-256 over the canonical JSON of ``config`` + the version.

    ``config`` of a program-path workload includes ``program_sha256`` (its content), so a
    recompiled program gets new ids; ``@`` workloads are identified by name.
    """
    hashed = {k: v for k, v in config.items() if k not in NOT_IN_ID}
    canonical = json.dumps({"config": hashed, "version": __version__}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_HEX_DIGITS]


class _Checker:
    """Raises one-line ConfigErrors located in the spec's text."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source

    def fail(self, section: str | None, key: str, problem: str) -> ConfigError:
        line = key_line(self.text, section, key)
        where = f", line {line}" if line else ""
        name = f"{section}.{key}" if section else key
        return ConfigError(f"{self.source}{where}, key {name}: {problem}")

    def run(self, section: str | None, key: str, check: Callable[[], Any]) -> Any:
        """``check()``, with any SimError it raises located at ``section.key``."""
        try:
            return check()
        except SimError as err:
            problem = str(err).replace("--cost", "cost")  # CLI wording, in a spec
            raise self.fail(section, key, problem) from None


def _table(check: _Checker, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        raise check.fail(None, key, f"expected one table [{key}], got an array of tables "
                         f"[[{key}]]")
    if not isinstance(value, dict):
        raise check.fail(None, key, f"expected a table [{key}], got {value!r}")
    return value


def _combinations(check: _Checker, vary: dict[str, Any],
                  validate: dict[str, Callable[[Any], Any]]) -> list[dict[str, Any]]:
    """The varied values of every point: a list of {key: value}."""
    mode = vary.get("mode", "product")
    if mode not in MODES:
        raise check.fail("vary", "mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    lists: dict[str, list[Any]] = {}
    for key, values in vary.items():
        if key == "mode":
            continue
        if key not in BASE_DEFAULTS:
            raise check.fail("vary", key, f"not a base key; vary one of {', '.join(BASE_DEFAULTS)}")
        if not isinstance(values, list):
            raise check.fail("vary", key, f"expected a list of values, got {values!r}")
        if not values:
            raise check.fail("vary", key, "empty list: give at least one value")
        lists[key] = [check.run("vary", key, lambda v=v, k=key: validate[k](v)) for v in values]
    if not lists:
        return [{}]
    keys = list(lists)
    if mode == "zip":
        first = keys[0]
        for key in keys[1:]:
            if len(lists[key]) != len(lists[first]):
                raise check.fail("vary", key, f"{len(lists[key])} values but vary.{first} has "
                                 f"{len(lists[first])} (mode zip needs lists of equal length)")
        rows: Iterator[tuple[Any, ...]] = zip(*(lists[k] for k in keys), strict=True)
    else:
        if math.prod(len(v) for v in lists.values()) > MAX_POINTS:
            raise check.fail("vary", keys[-1], f"{math.prod(len(v) for v in lists.values()):,} "
                             f"combinations; a sweep has at most {MAX_POINTS:,} points")
        rows = itertools.product(*(lists[k] for k in keys))
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _program_hashes(check: _Checker, section: str, workloads: Iterator[str]) -> dict[str, str]:
    """The content hash of every program-path workload (``@`` workloads are hashed by name)."""
    hashes: dict[str, str] = {}
    for workload in workloads:
        if not workload.startswith(WORKLOAD_PREFIX) and workload not in hashes:
            hashes[workload] = check.run(section, "workload", lambda w=workload: _hash(w))
    return hashes


def _hash(path: str) -> str:
    try:
        return file_sha256(path)
    except OSError as err:
        raise ConfigError(f"cannot read program {path}: {err.strerror or err}") from None


def _default_args(workload: str) -> list[str]:
    from cofferos.workloads.catalog import WORKLOADS

    if not workload.startswith(WORKLOAD_PREFIX):
        return []
    name = workload[len(WORKLOAD_PREFIX):].partition(LIBC_SEPARATOR)[0]
    return list(WORKLOADS[name].default_args)


def parse_text(text: str, source: str = "<string>", base_dir: Path | None = None) -> SweepSpec:
    """Parse, validate and resolve a spec's TOML ``text`` (``source`` names it in errors).

    Ctrl-C while it runs (it imports the simulator) is raised when it is done.
    """
    with held_interrupts():
        return _parse(text, source, base_dir)


def _parse(text: str, source: str, base_dir: Path | None) -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None
    check = _Checker(text, source)
    for key in data:
        if key not in TOP_LEVEL:
            raise check.fail(None, key, f"unknown key; a spec has {', '.join(TOP_LEVEL)}")
    name = data.get("name", Path(source).stem if source != "<string>" else "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise check.fail(None, "name", f"expected a name of letters, digits, - _ or ., "
                         f"got {name!r}")
    base, vary, repeat = (_table(check, data, key) for key in ("base", "vary", "repeat"))
    varied = vary.get("image")
    in_image = bool(base.get("image")) or (isinstance(varied, list) and any(varied))
    validate = key_validators(base_dir or Path.cwd(), in_image)
    resolved: dict[str, Any] = {}
    for key, value in base.items():
        if key not in BASE_DEFAULTS:
            raise check.fail("base", key, f"unknown key; base keys: {', '.join(BASE_DEFAULTS)}")
        resolved[key] = check.run("base", key, lambda k=key, v=value: validate[k](v))
    if "workload" not in resolved and "workload" not in vary:
        raise check.fail("base", "workload", "missing: every point needs a workload "
                         "(a program path or @name)")
    for key in repeat:
        if key != "seeds":
            raise check.fail("repeat", key, "unknown key; [repeat] has seeds")
    seeds = check.run("repeat", "seeds",
                      lambda: bounds.check("seeds", repeat.get("seeds", 1)))
    combinations = _combinations(check, vary, validate)
    if len(combinations) * seeds > MAX_POINTS:
        raise check.fail("repeat", "seeds", f"{len(combinations) * seeds:,} points; a sweep "
                         f"has at most {MAX_POINTS:,}")
    hashes = {} if in_image else _program_hashes(
        check, "vary" if "workload" in vary else "base",
        (c.get("workload", resolved.get("workload", "")) for c in combinations))
    image_hashes: dict[str, dict[str, str]] = {}
    points, seen = [], set()
    for combination in combinations:
        config = {**BASE_DEFAULTS, **resolved, **combination}
        if config["args"] is None:
            config["args"] = _default_args(config["workload"])
        for index in range(seeds):
            point = {**config, "seed": config["seed"] + index, "repeat": index}
            point = {key: point[key] for key in (*BASE_DEFAULTS, "repeat")
                     if key not in OMITTED_AT_DEFAULT or point[key] != BASE_DEFAULTS[key]}
            if point["workload"] in hashes:
                point[PROGRAM_HASH_KEY] = hashes[point["workload"]]
            if point.get("image") and point.get("experiment"):
                raise check.fail("vary" if "image" in vary else "base", "image",
                                 f"the {point['experiment']} experiment builds its "
                                 "containers' whole root itself: a point of it takes no "
                                 "image")
            if point.get("image"):
                if point["image"] not in image_hashes:
                    image_hashes[point["image"]] = image_keys(point["image"])
                point.update(image_hashes[point["image"]])
            elif in_image and not point["workload"].startswith(WORKLOAD_PREFIX):
                raise check.fail("vary" if "image" in vary else "base", "image",
                                 f"workload {point['workload']} is a program of an image, "
                                 "but a point has no image")
            ident = point_id(point)
            if ident in seen:
                raise check.fail("vary", next(iter(vary), "mode"), "two points have the same "
                                 "configuration (a value is repeated)")
            seen.add(ident)
            points.append({"id": ident, "config": point})
    return SweepSpec(name=name, source=source, text=text, parsed=data, points=points,
                     seeds=seeds)


def load(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and resolve the spec file at ``path``; relative programs are relative to it."""
    spec_path = Path(path)
    try:
        text = spec_path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read sweep spec {spec_path}: "
                          f"{getattr(err, 'strerror', None) or err}") from None
    return parse_text(text, str(spec_path), spec_path.resolve().parent)
