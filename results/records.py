"""Run records: the JSON written by ``--stats`` and the tables the CLI prints."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cofferos.coffers.coffer import CofferConfig, RunResult

NS_PER_SECOND = 1e9
RECORD_VERSION = 1


def _plain(value: Any) -> Any:
    """Make configuration values JSON-friendly (dataclasses, mapping proxies, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_record(result: RunResult, wall_seconds: float, config: CofferConfig,
               program: Sequence[str]) -> dict[str, Any]:
    """The statistics of one run, with the fully resolved configuration that produced it."""
    return {
        "record_version": RECORD_VERSION,
        "program": list(program),
        "exit_code": result.exit_code,
        "signal": result.exit_status.signal or None,
        "instructions": result.instructions,
        "user_cycles": result.user_cycles,
        "kernel_cycles": result.kernel_cycles,
        "simulated_seconds": result.simulated_ns / NS_PER_SECOND,
        "syscalls": {"total": sum(result.syscalls.values()),
                     "by_name": dict(sorted(result.syscalls.items()))},
        "unimplemented_syscalls": result.unimplemented_syscalls,
        "kernel_oopses": len(result.oopses),
        "wall_seconds": wall_seconds,
        "host_mips": result.instructions / wall_seconds / 1e6 if wall_seconds > 0 else None,
        "config": _plain(config),
    }


def write_json(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically (temporary file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(record, out, indent=2, sort_keys=False)
            out.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, numbers right-aligned, for terminals and docs."""
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]

    def line(values: Sequence[str], numeric: Sequence[bool]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) for r in rows)
               for i in range(len(headers))]
    out = [line(headers, numeric), line(["-" * w for w in widths], numeric)]
    out += [line(r, numeric) for r in cells]
    return "\n".join(out)
