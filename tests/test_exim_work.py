"""@mosbench exim does the per-message work measured on a real Exim (issue #15).

workloads/src/exim_work.h is the committed table: the user-space instructions Debian's
Exim 4.96 executes per message in its receiving, delivery and transport processes, the
name lookups it makes, its page faults and the size of the address space it forks, each
with the command that measured it (benchmarks/exim/, which needs Exim and root and is
not run here). These tests check that the simulated loop executes those counts, makes
those calls, takes those faults and pays for those forks, reading the table, not copies
of it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from cofferos.sim.costmodel import KernelCosts
from cofferos.workloads.build import resolve
from tests.support import run_in_coffer

TABLE = Path(__file__).parent.parent / "workloads" / "src" / "exim_work.h"
ROOT = "/tmp/mosbench"
MESSAGES_PER_CONNECTION = 10  # mosbench.c's, as smtpbm's
FEW, MORE = 10, 20  # messages: one and two connections of 10
#: The loop's instructions beyond the measured Exim's, a message: the smtpbm-like
#: client's (about 7,600: callgrind of the native build) and the spin's rounding.
CLIENT_ALLOWANCE = 0.02


def table() -> dict[str, int]:
    defines = re.findall(r"^#define (\w+) (\d+)L?\b", TABLE.read_text(), re.MULTILINE)
    return {name: int(value) for name, value in defines}


#: The simulated loop's page faults beyond real Exim's, a message: a forked child here
#: faults on its first use of every page, also those whose entries Linux's fork copies
#: (the loop's own, simulated, 80 a message against 50 natively).
FAULT_ALLOWANCE = 0.10
#: Forks a message: a delivery and its transport, and a tenth of a receiving process.
FORKS_PER_MESSAGE = 2 + 1 / 10
#: How far a fork's copy may exceed the extra shape's: the loop's own mappings and the
#: pages each process faulted in before forking (counted as resident, file pages too).
FORK_ALLOWANCE = 0.25


def run(messages: int, **config: object):
    outcome = run_in_coffer(resolve("@mosbench"), ["exim", "1", str(messages), ROOT], **config)
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


def test_a_message_takes_the_page_faults_measured_on_real_exim() -> None:
    t = table()
    exim = (t["EXIM_RECEIVE_FAULTS"] / MESSAGES_PER_CONNECTION
            + t["EXIM_DELIVER_FAULTS"] + t["EXIM_TRANSPORT_FAULTS"])
    few, more = run(FEW, page_faults=True), run(MORE, page_faults=True)
    per_message = (more.coffer.stats.page_faults - few.coffer.stats.page_faults) / (MORE - FEW)
    assert exim <= per_message <= exim * (1 + FAULT_ALLOWANCE), (per_message, exim)


def test_each_fork_copies_an_address_space_the_size_of_exims() -> None:
    """The forks of a message cost the extra mappings and pages exim_work.h gives the
    worker, at the cost model's prices: the difference against the same run with those
    prices at zero."""
    t, costs = table(), KernelCosts()
    flat = replace(costs, fork_mapping_work=0, fork_page_work=0)
    def kernel_cycles_a_message(kernel_costs: KernelCosts) -> float:
        few = run(FEW, page_faults=True, kernel_costs=kernel_costs)
        more = run(MORE, page_faults=True, kernel_costs=kernel_costs)
        return (more.kernel_cycles - few.kernel_cycles) / (MORE - FEW)
    copies = kernel_cycles_a_message(costs) - kernel_cycles_a_message(flat)
    extra = ((t["EXIM_MAPPINGS"] - t["LOOP_MAPPINGS"]) * costs.fork_mapping_work
             + (t["EXIM_ANON_PAGES"] - t["LOOP_ANON_PAGES"]) * costs.fork_page_work)
    assert FORKS_PER_MESSAGE * extra <= copies <= FORKS_PER_MESSAGE * extra * (1 + FORK_ALLOWANCE)
