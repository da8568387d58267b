"""The sensitivity sections of docs/isolation.md (``coffersim sensitivity NAME --docs FILE``).

Each experiment's section sits between two markers, ``<!-- sensitivity:NAME begin -->``
and ``<!-- sensitivity:NAME end -->``: :func:`with_section` replaces it (or adds it at
the end of the page), and ``coffersim experiment report``, which writes the rest of
the page, keeps every such section as it was (:func:`sections`). A section says what
was run (command, size, host time) and lists the conclusions that hold across every
level of every constant varied and those that do not, with the levels that flip them.

    >>> page = with_section("# Page\\n", "x", "## S\\nbody")
    >>> sections(page) == [with_section("", "x", "## S\\nbody").strip()]
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

BEGIN = "<!-- sensitivity:{name} begin -->"
END = "<!-- sensitivity:{name} end -->"
_SECTION = re.compile(r"<!-- sensitivity:(?P<name>[\w-]+) begin -->.*?"
                      r"<!-- sensitivity:(?P=name) end -->", re.DOTALL)
#: Moved-number lines shown per section: the constants whose largest move was biggest.
TOP_MOVERS = 8
IDLE_CORES = 2  #: the development machine's cores: what CPU-seconds are turned into time on
SECONDS_PER_MINUTE = 60


def sections(page: str) -> list[str]:
    """Every sensitivity section of ``page``, markers included, in page order."""
    return [found.group(0) for found in _SECTION.finditer(page)]


def with_section(page: str, name: str, body: str) -> str:
    """``page`` with experiment ``name``'s section holding ``body`` (replaced, or added at
    the end)."""
    block = f"{BEGIN.format(name=name)}\n{body.strip()}\n{END.format(name=name)}"
    pattern = re.compile(re.escape(BEGIN.format(name=name)) + ".*?" +
                         re.escape(END.format(name=name)), re.DOTALL)
    if pattern.search(page):
        return pattern.sub(lambda _m: block, page, count=1)
    return page.rstrip() + ("\n\n" if page.strip() else "") + block + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def markdown(report: dict[str, Any], command: Sequence[str]) -> str:
    """The section of one ``coffersim sensitivity`` report."""
    setup = report["configuration"]
    rows = report["rows"]
    constants = list(dict.fromkeys(r["constant"] for r in rows))
    unused = [c for c in constants if all(r["unused"] for r in rows if r["constant"] == c)]
    levels = ", ".join(f"x{f:g}" for f in setup["factors"])
    lines = [
        f"## Sensitivity: {setup['experiment']}", "",
        f"Command: `{' '.join(command)}` ({setup['host_seconds']:.0f} s of host time on "
        f"this shared host, {setup['host_cpu_seconds']:.0f} CPU-s: about "
        f"{setup['host_cpu_seconds'] / IDLE_CORES / SECONDS_PER_MINUTE:.0f} min on "
        f"{IDLE_CORES} idle cores). Size: kernels "
        f"{', '.join(setup['kernels'])}, {setup['containers']} containers on "
        f"{setup['cores']} cores, seed {setup['seed']}"
        + (f", settings {_settings(setup['options'])}" if setup["options"] else "")
        + (f", cost {' '.join(setup['cost'])}" if setup["cost"] else "") + ".",
        f"{len(constants)} constants varied, each at {levels} unless stated "
        f"({len(rows)} levels); {len(unused)} of them change no value that any part of "
        "the base run reads (the simulator is deterministic, so they cannot change the "
        "run: they were not run). "
        + (f"A run is {len(setup['parts'])} parts, each rerun only under the levels that "
           f"change a value it reads: {setup['part_runs']} part runs beside the base's. "
           if len(setup.get("parts", ())) > 1 else "")
        + _where_time_goes(setup) + "A conclusion is an "
        "isolation check (what the `tradeoff` score counts) or the finding's wording "
        "with its numbers masked.", "",
        "| conclusion | at the base | across the range | flips under |", "|---|---|---|---|"]
    for line in report["conclusions"]:
        what = line["conclusion"]
        if what.startswith("finding: "):
            what = "the finding's wording"
        lines.append(f"| {_cell(what)} | {line['base']} | "
                     f"{'holds' if line['holds'] else '**does not hold**'} | "
                     f"{_cell(', '.join(line['flips_under'])) or '-'} |")
    movers = sorted((r for r in rows if r["moved"]), key=lambda r: -abs(r["largest_change"]))
    if movers:
        lines += ["", f"Largest moves of a headline number (more than "
                      f"{setup['move_threshold']:.0%}; the full table: "
                      "`sensitivity.txt` in the output directory):", ""]
        lines += [f"- `{r['constant']}` {r['level']}: {r['largest_move']} "
                  f"{r['largest_change']:+.0%} ({len(r['moved'])} moved)"
                  for r in movers[:TOP_MOVERS]]
    return "\n".join(lines)


def _where_time_goes(setup: dict[str, Any]) -> str:
    """Where a run's CPU time goes, by part of the base run (parts grouped by their first
    two words: ``check fault``, ``throughput linux``)."""
    spent: dict[str, float] = {}
    for label, seconds in setup.get("base_part_cpu_seconds", {}).items():
        group = " ".join(label.split()[:2])
        spent[group] = spent.get(group, 0.0) + seconds
    if len(spent) < 2:
        return ""
    return ("CPU-s of the base run by part: " + ", ".join(
        f"{group} {seconds:.1f}" for group, seconds in spent.items()) + ". ")


def _settings(options: dict[str, Any]) -> str:
    return " ".join(f"`{key}={value}`" for key, value in options.items())
