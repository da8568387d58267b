"""@mosbench exim does the per-message work measured on a real Exim (issue #15).

workloads/src/exim_work.h is the committed table: the user-space instructions Debian's
Exim 4.96 executes per message in its receiving, delivery and transport processes, and
the name lookups it makes, each with the command that measured it (benchmarks/exim/,
which needs Exim and root and is not run here). These tests check that the simulated
loop executes those counts and makes those calls, reading the table, not copies of it.
"""

from __future__ import annotations

import re
from pathlib import Path

from cofferos.workloads.build import resolve
from tests.support import run_in_coffer

TABLE = Path(__file__).parent.parent / "workloads" / "src" / "exim_work.h"
ROOT = "/tmp/mosbench"
FEW, MORE = 10, 20  # messages: one and two connections of 10
#: The loop's instructions beyond the measured Exim's, a message: the smtpbm-like
#: client's (about 7,600: callgrind of the native build) and the spin's rounding.
CLIENT_ALLOWANCE = 0.02


def table() -> dict[str, int]:
    defines = re.findall(r"^#define (\w+) (\d+)L?\b", TABLE.read_text(), re.MULTILINE)
    return {name: int(value) for name, value in defines}


def run(messages: int):
    outcome = run_in_coffer(resolve("@mosbench"), ["exim", "1", str(messages), ROOT])
    assert outcome.status == 0, outcome.stderr
    assert outcome.result is not None
    return outcome.result


def test_a_message_executes_the_instructions_measured_on_real_exim() -> None:
    t = table()
    exim = t["EXIM_RECEIVE_INSNS"] + t["EXIM_DELIVER_INSNS"] + t["EXIM_TRANSPORT_INSNS"]
    few, more = run(FEW), run(MORE)
    per_message = (more.instructions - few.instructions) / (MORE - FEW)
    assert exim <= per_message <= exim * (1 + CLIENT_ALLOWANCE), (per_message, exim)


def test_a_message_makes_the_lookups_measured_on_real_exim() -> None:
    t = table()
    few, more = run(FEW), run(MORE)
    calls = {name: (more.syscalls[name] - few.syscalls.get(name, 0)) / (MORE - FEW)
             for name in more.syscalls}
    assert calls["statfs"] == t["RECEIVE_STATFS"]
    assert calls["utimensat"] == calls["rename"] == calls["chdir"] == 1
    assert calls["fsync"] == 5  # (4 spool files and the spool subdirectory)
    localtime = sum(t[f"{who}_LOCALTIME_STATS"] for who in ("RECEIVE", "DELIVER", "TRANSPORT"))
    assert calls["newfstatat"] >= localtime + t["DELIVER_TMPDIR_STATS"] + t["DELIVER_HINTS_STATS"]
