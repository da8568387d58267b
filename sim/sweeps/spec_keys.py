"""The checks of a sweep spec's ``[base]`` keys, one function per key (:mod:`.spec`).

Each takes a key's value as TOML gave it and returns it normalised (a workload path
resolved, a kernel name checked against the version tables, ``args`` as strings), or
raises a one-line :class:`~cofferos.errors.ConfigError` that :mod:`.spec` locates at the
key's line. :func:`key_validators` maps every key to its check; the numeric bounds are
the command line's (:data:`cofferos.bounds.BOUNDS`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cofferos import bounds
from cofferos.bounds import BOUNDS
from cofferos.errors import ConfigError

#: The experiments a point may run instead of its workload.
POINT_EXPERIMENTS = ("agents",)
#: The key a point with an image archive gets: the SHA-256 of the archive's content (a
#: directory image is named by its path alone).
IMAGE_HASH_KEY = "image_sha256"
WORKLOAD_PREFIX = "@"
LIBC_SEPARATOR = ":"
HASH_CHUNK_BYTES = 1 << 20
#: The ranges are the command line's too: one table, cofferos.bounds.BOUNDS.
MAX_CORES = BOUNDS["cores"].maximum
MAX_CONTAINERS = BOUNDS["containers"].maximum
MAX_TIMEOUT_S = BOUNDS["timeout_s"].maximum
MAX_DURATION_MS = BOUNDS["duration_ms"].maximum
MAX_SEEDS = BOUNDS["seeds"].maximum
#: Upper bounds of the numeric keys, checked with the key and its line.
LIMITS: dict[str, int | float] = {
    "cores": MAX_CORES, "containers": MAX_CONTAINERS, "timeout_s": MAX_TIMEOUT_S,
    "duration_ms": MAX_DURATION_MS, "seeds": MAX_SEEDS}


def file_sha256(path: str) -> str:
    """The SHA-256 of the content of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_number(value: Any, positive: bool, maximum: int | float) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"must be {'>' if positive else '>='} 0, got {value}")
    if value > maximum:
        raise ConfigError(f"must be at most {maximum:,}, got {value:,}")
    return int(value) if float(value).is_integer() else value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"expected a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"expected a list of strings, got element {item!r}")
    return list(value)


def _args(value: Any) -> list[str]:
    if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in value):
        raise ConfigError(f"expected a list of strings or numbers, got {value!r}")
    return [str(v) for v in value]


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}")
    return value


def _kernel(value: Any) -> str:
    from cofferos.sim.kernels import check_kernel

    return check_kernel(_string(value))


def _workload(value: Any, base_dir: Path, in_image: bool = False) -> str:
    from cofferos.workloads.catalog import ALL_LIBCS, WORKLOADS

    if not _string(value):
        raise ConfigError("expected a program path or @workload, got an empty string")
    if in_image and not value.startswith(WORKLOAD_PREFIX):
        return value  # a program of the image, looked up in it when the point runs
    if value.startswith(WORKLOAD_PREFIX):
        name, sep, libc = value[len(WORKLOAD_PREFIX):].partition(LIBC_SEPARATOR)
        workload = WORKLOADS.get(name)
        if workload is None:
            raise ConfigError(f"unknown workload {name!r}; see coffersim workloads")
        if sep and libc not in workload.libcs:
            choices = ", ".join(lib for lib in ALL_LIBCS if lib in workload.libcs)
            raise ConfigError(f"{name} does not build with libc {libc!r}; choose from {choices}")
        return value
    path = Path(value) if os.path.isabs(value) else base_dir / value
    if not path.is_file():
        raise ConfigError(f"no such program: {path}")
    return str(path.resolve())


def _image(value: Any, base_dir: Path) -> str:
    """An image archive or directory, read and checked now (``""``: none)."""
    from cofferos.coffers.config import host_disk_limit
    from cofferos.coffers.fs.image import check_image
    from cofferos.coffers.fs.imagetree import ImageError

    if not _string(value):
        return ""
    path = Path(value) if os.path.isabs(value) else base_dir / value
    try:
        check_image(str(path), size_limit=host_disk_limit())
    except ImageError as err:
        raise ConfigError(f"{path}: {err}") from None
    return str(path.resolve())


def image_keys(image: str | None) -> dict[str, str]:
    """What a point run on ``image`` adds to its configuration: the image's resolved path
    (as a spec gives it, so a compare and a sweep of the same run have the same id), and
    the SHA-256 of an archive's content (so a rebuilt image gets new point ids)."""
    if not image:
        return {}
    keys = {"image": str(Path(image).resolve())}
    if os.path.isfile(image):
        keys[IMAGE_HASH_KEY] = file_sha256(image)
    return keys


def _personalities(value: Any) -> list[str]:
    from cofferos.personalities.stack import available, parse_spec

    specs = _strings(value)
    known = available()
    for spec in specs:
        parse_spec(spec, known)
    return specs


def _cost(value: Any) -> list[str]:
    from cofferos.timing import kernel_costs

    overrides = _strings(value)
    kernel_costs(overrides)
    return overrides


def _op_syscall(value: Any) -> str:
    from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS

    if _string(value) and value not in SYSCALL_NUMBERS:
        raise ConfigError(f"no system call named {value!r}")
    return value


def _probes(value: Any) -> list[str]:
    from cofferos.sim.sweeps.point import POINT_PROBES

    names = _strings(value)
    for name in names:
        if name not in POINT_PROBES:
            raise ConfigError(f"unknown probe {name!r}; registered: "
                              f"{', '.join(POINT_PROBES) or 'none'}")
    return names


def _experiment(value: Any) -> str:
    if _string(value) and value not in POINT_EXPERIMENTS:
        raise ConfigError(f"unknown experiment {value!r}; a point runs one of "
                          f"{', '.join(POINT_EXPERIMENTS)} (or \"\": its workload)")
    return value


def _hosting(value: Any) -> str:
    from cofferos.sim.agents.hosting import hosting

    return hosting(value).name if _string(value) else value


def _scenario(value: Any, base_dir: Path) -> str:
    from cofferos.sim.agents.scenario import load

    if not _string(value) or not value.endswith(".toml"):
        return load(value).name if value else value  # a shipped one, by name
    path = Path(value) if os.path.isabs(value) else base_dir / value
    load(str(path))
    return str(path.resolve())


def key_validators(base_dir: Path, in_image: bool) -> dict[str, Callable[[Any], Any]]:
    """One check-and-normalise function per base key (``in_image``: some point has an
    image, in which a workload that is a path is looked up)."""
    return {
        "workload": lambda v: _workload(v, base_dir, in_image), "args": _args,
        "kernel": _kernel, "image": lambda v: _image(v, base_dir),
        "personalities": _personalities, "cores": lambda v: bounds.check("cores", v),
        "containers": lambda v: bounds.check("containers", v), "cost": _cost,
        "seed": lambda v: bounds.check("seed", v),
        "duration_ms": lambda v: check_number(v, False, LIMITS["duration_ms"]),
        "op_syscall": _op_syscall,
        "timeout_s": lambda v: check_number(v, True, LIMITS["timeout_s"]), "probes": _probes,
        "experiment": _experiment, "hosting": _hosting,
        "scenario": lambda v: _scenario(v, base_dir),
        "density_limit": lambda v: check_number(v, False, MAX_CONTAINERS), "misbehave": _string}
