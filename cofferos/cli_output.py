"""What ``coffersim run`` says about a run besides the guest's own output.

Three things, all from the run's statistics record (:mod:`cofferos.results.records`):

* the **end line**: when the kernel model ended the run (a deadlock, the
  instruction limit, the OOM killer, a personality, an oops), one line on stderr
  says so: a guest that exits 137 should not look like the host's OOM killer;
* the **summary line** (``--summary``, the default when stderr is a terminal):
  instructions, cycles, calls, simulated and host time, on stderr;
* the **JSON record** (``--json``): the record on stdout, printed after the guest
  finished. stdout then holds nothing else, so it can be piped (``| jq``); the
  guest's stdout goes to stderr with its stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cofferos.coffers.task import END_REASONS

#: End reasons that are the program's own doing: nothing more to say than its status.
PROGRAM_ENDS = ("exit", "signal")
NS_PER_MS = 1e6


def end_line(record: dict[str, Any]) -> str | None:
    """``coffersim: the run ended by deadlock: ... (exit status 137)``, or None when
    the program ended itself (an exit, or a signal it was sent)."""
    reason = record.get("end_reason", "exit")
    if reason in PROGRAM_ENDS:
        return None
    detail = record.get("end_detail")
    said = END_REASONS.get(reason, reason)
    traced = reason == "oops" and record.get("oops_reports")
    more = "; in full: oops_reports of --stats" if traced else ""
    return (f"coffersim: the run ended by {reason}: {said}"
            f"{f' ({detail})' if detail else ''}; exit status {record['exit_code']}{more}")


def summary_line(record: dict[str, Any]) -> str:
    """One line of totals from a functional or a timed run's record."""
    cycles = record.get("cycles")
    if cycles is None:
        cycles = record.get("user_cycles", 0) + record.get("kernel_cycles", 0)
    calls = record.get("syscalls", {}).get("total", 0)
    return (f"coffersim: {record.get('instructions', 0):,} instructions, {cycles:,} cycles, "
            f"{calls:,} system calls, {record['simulated_seconds'] * 1e3:.3f} ms simulated, "
            f"{record['wall_seconds']:.2f} s host time")


def wants_summary(flag: bool | None) -> bool:
    """``--summary``/``--no-summary`` if given, else whether stderr is a terminal."""
    if flag is not None:
        return flag
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def report_run(record: dict[str, Any], *, summary: bool | None, as_json: bool) -> None:
    """Say what happened: the end line and the summary on stderr, the record on stdout."""
    line = end_line(record)
    if line:
        print(line, file=sys.stderr)
    if wants_summary(summary):
        print(summary_line(record), file=sys.stderr)
    if as_json:
        sys.stdout.flush()
        print(json.dumps(record, indent=2))
