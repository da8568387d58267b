"""The ``noisy-neighbor`` experiment's rows, read: summary table, finding, checks, figure.

:mod:`cofferos.sim.isolation.noisy` runs the victim alone and beside each storm and
makes one row per kernel x storm x measure (``alone``, ``with_storm``, ``ratio``);
this module reads those rows: the summary table (values to :data:`SIGNIFICANT`
digits), the finding (where a storm slowed the victim beyond the private kernels'
runs, and through which lock wait or page-cache misses), the isolation check the
``tradeoff`` score counts, and the figure. It runs nothing.
"""

from __future__ import annotations

from typing import Any

from cofferos.sim.isolation.common import ExperimentResult

KEEPS = 0.9  #: a victim keeping this share of its throughput alone passes the isolation check
SLOWED = 0.05  #: a ratio this far below the private kernels' is reported as a slowdown
LOCK_WAIT_NOISE_US = 1.0  #: victim lock wait rising less than this is not reported
SIGNIFICANT = 3  #: digits the summary table and the finding keep


def _row(rows: list[dict[str, Any]], kernel: str, storm: str, measure: str) -> dict[str, Any]:
    return next((row for row in rows if (row["kernel"], row["storm"], row["measure"])
                 == (kernel, storm, measure)), {})


def _ratio(rows: list[dict[str, Any]], kernel: str, storm: str, measure: str) -> float | None:
    return _row(rows, kernel, storm, measure).get("ratio")


def rounded(value: Any, digits: int = SIGNIFICANT) -> Any:
    """``value`` to ``digits`` significant digits for display (an int when it is whole)."""
    if not isinstance(value, float):
        return value
    short = float(f"{value:.{digits}g}")
    return int(short) if short.is_integer() and abs(short) >= 10 ** (digits - 1) else short


SUMMARY_COLUMNS = ("kernel", "storm", "victim", "throughput_ratio", "p99_ratio",
                   "lock_wait_us_alone", "lock_wait_us_with", "cache_misses_alone",
                   "cache_misses_with", "storm_locks", "storm_refused")


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per kernel x storm, values rounded to :data:`SIGNIFICANT` digits."""
    lines = []
    for kernel, storm in dict.fromkeys((row["kernel"], row["storm"]) for row in rows):
        first = _row(rows, kernel, storm, "throughput")
        wait, misses = (_row(rows, kernel, storm, m) for m in ("lock_wait_us", "cache_misses"))
        lines.append({
            "kernel": kernel, "storm": storm, "victim": first["victim"],
            "throughput_ratio": rounded(first["ratio"]),
            "p99_ratio": rounded(_ratio(rows, kernel, storm, "p99_us")),
            "lock_wait_us_alone": rounded(wait["alone"]),
            "lock_wait_us_with": rounded(wait["with_storm"]),
            "cache_misses_alone": misses["alone"], "cache_misses_with": misses["with_storm"],
            "storm_locks": first["storm_locks"], "storm_refused": first["storm_refused"]})
    return lines


def _number(value: float) -> str:
    return f"{rounded(float(value)):,}" if value >= 1_000 else f"{rounded(float(value)):g}"


def _shared_effects(rows: list[dict[str, Any]], kernel: str, storm: str) -> list[str]:
    """What the storm added to the victim's kernel work on ``kernel``: lock wait, misses."""
    effects = []
    wait = _row(rows, kernel, storm, "lock_wait_us")
    if wait and wait["with_storm"] - wait["alone"] > max(LOCK_WAIT_NOISE_US, 0.1 * wait["alone"]):
        effects.append(f"lock wait {_number(wait['alone'])} -> {_number(wait['with_storm'])} us")
    misses = _row(rows, kernel, storm, "cache_misses")
    if misses and misses["with_storm"] > misses["alone"]:
        effects.append(f"page-cache misses {misses['alone']:,} -> {misses['with_storm']:,}")
    return effects


def finding(rows: list[dict[str, Any]]) -> str:
    """Per storm: where it slowed the victim beyond the private kernels, and through what."""
    kernels = list(dict.fromkeys(row["kernel"] for row in rows))
    storms = list(dict.fromkeys(row["storm"] for row in rows))
    shared = [k for k in kernels if any(r["shared_kernel"] for r in rows if r["kernel"] == k)]
    private = [k for k in kernels if k not in shared]
    parts = []
    for storm in storms:
        ratios = {k: _ratio(rows, k, storm, "throughput") for k in kernels}
        floor = min((r for k, r in ratios.items() if k in private and r is not None),
                    default=1.0)
        text = ", ".join(f"{k} {r:.2f}" for k, r in ratios.items() if r is not None)
        victim = _row(rows, kernels[0], storm, "throughput").get("victim", "?")
        verdicts = []
        for kernel in shared:
            ratio, effects = ratios[kernel], _shared_effects(rows, kernel, storm)
            how = f" ({'; '.join(effects)})" if effects else ""
            if ratio is not None and ratio < floor - SLOWED:
                verdicts.append(f"slows the victim on {kernel} beyond the private kernels'"
                                f"{how}")
            elif effects:
                verdicts.append(f"reaches the victim on {kernel}{how} but costs it less than "
                                f"{SLOWED:.0%} of throughput beyond the private kernels'")
            else:
                verdicts.append(f"no effect on {kernel} beyond the private kernels'")
        refused = next((row["storm_refused"] for row in rows
                        if row["storm"] == storm and row["storm_refused"]), "")
        note = f"; the storm's calls were refused ({refused})" if refused else ""
        parts.append(f"`{storm}` (victim `{victim}`): throughput with/alone {text}: "
                     f"{'; '.join(verdicts) or 'no shared kernel run'}{note}.")
    worst = min(((r, s) for k in private for s in storms
                 if (r := _ratio(rows, k, s, "throughput")) is not None), default=None)
    tail = (f" On kernels with private state the worst ratio is {worst[0]:.2f} "
            f"(`{worst[1]}`): the machine's share (shared hardware, context switches and "
            "wake-ups on shared cores), the same for every kernel." if worst else "")
    return " ".join(parts) + tail


def draw(rows: list[dict[str, Any]], path: str) -> None:
    """Victim throughput and p99 ratios (with storm / alone), grouped by storm."""
    from cofferos.sim.isolation.figures import noisy_figure

    noisy_figure(summarise(rows), path)


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory (its summary when it has
    one: that of repeated runs holds the intervals the error bars show)."""
    from cofferos.sim.isolation.figures import noisy_figure

    noisy_figure(result.summary or summarise(result.rows), out)


def isolation_checks(result: ExperimentResult) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """One check per kernel x storm, passed when the victim kept :data:`KEEPS` of its
    throughput alone (``tradeoff``). Personalities are not varied: it counts for each."""
    checks: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for row in result.rows:
        if row["measure"] == "throughput":
            kept = row["ratio"] is not None and row["ratio"] >= KEEPS
            checks.setdefault((row["kernel"], "none"), []).append((f"noisy.{row['storm']}", kept))
    return checks
