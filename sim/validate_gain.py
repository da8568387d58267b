"""Published gains from changing one kernel mechanism, judged on ``coffersim validate``'s rows.

Some published findings are not the shape of a scaling curve but what one change did
to it on one machine. The kernel test robot's unlink2 report is one: the same kernel
with queued spinlocks (qspinlock) and with their slow path made NUMA-aware (CNA,
``sim/lockalgo.py``), on a 4-socket machine, 96 threads: +73.5% operations. Such a
finding is judged from two rows of one run, the base kernel's and the variant's,
in one container at the largest worker count, on the published number of sockets
(``--cost lock.sockets=N``, ``sim/topology.py``): it agrees when the model's gain has
the published direction and is within a factor :data:`GAIN_FACTOR` of its size. Rows
on another socket count, or without both kernels, are not judged.

Held out, like every finding validate judges: no constant was set from it (the
cross-socket hand-off, ``lock.handoff_remote``, is an a-priori 2.5 x the in-socket one;
:data:`GAIN_FACTOR` was written after the model's unlink2 gain was first seen, and any
factor from 1.3 up gives the same verdict).

Sources:

* KLEEN_EXIM: Kleen and Chen (Intel, 2011), as docs/calibration.md quotes it: Exim
  (MOSBENCH's) on 40 cores / 80 threads, Linux 2.6.38; "fixing RCU path walk for
  absolute paths alone gave 1.97x throughput" (Andi Kleen's "vfs: Fix absolute RCU
  path walk failures due to uninitialized seq number", merged for 2.6.39). Judged as
  linux:2.6.39 over linux:2.6.38 (``sim/lockversions_2638.py``) at the largest worker
  count, by the same rule (within :data:`GAIN_FACTOR`: "about 2x" agrees for a model
  gain between 1.49x and 2.94x), on any socket count: the fix is not a NUMA mechanism
  (``PublishedGain.numa`` False), and the machine's four sockets are recorded.
  Still held out with the ticket hand-off by sockets (``--cost lock.ticket_reread``,
  ``sim/lockalgo.py``, off by default): its constant is a Nehalem L3 hit, a hardware
  latency, not this row's figures (the form was looked for because of this row's gap,
  docs/timing.md's Exim section).
* LKP_UNLINK2: the kernel test robot, "[locking/qspinlock] ad3836e30e:
  will-it-scale.per_thread_ops 73.5% improvement", linux-kernel, 19 Nov 2019,
  Message-ID <20191119144826.GA28989@xsang-OptiPlex-9020>: will-it-scale unlink2,
  thread mode, 96 threads (nr_task 50%) of a 192-thread Xeon Platinum 9242 machine
  with four NUMA nodes, 6,672 -> 11,574 operations per thread per second from
  "locking/qspinlock: Introduce CNA into the slow path of qspinlock" (Alex Kogan,
  v6 3/5). Before it 60.6% of cycles were in native_queued_spin_lock_slowpath, from
  inode_sb_list_add and evict (s_inode_list_lock), SELinux's inode security lock and
  the file table's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cofferos.sim.lockversions import split_kernel
from cofferos.sim.topology import SOCKETS_KEY

UNJUDGED = "not judged"  #: (the agreement of a row no finding covers, as validate's rows)
GAIN_FACTOR = 2.0  #: "rough size": the model's gain within this factor of the published one
ONE = "one"  #: (sim/validate.py's one-container placement)


@dataclass(frozen=True)
class PublishedGain:
    """One published effect of a change. Each field: meaning."""

    workload: str
    """The validation workload."""
    base: str
    """The kernel version before the change (a key of lockversions.VERSIONS)."""
    variant: str
    """The version after it."""
    workers: int
    """Workers (threads) of the finding."""
    sockets: int
    """Sockets (NUMA nodes) of its machine."""
    gain: float
    """Throughput after / before - 1."""
    source: str
    finding: str
    numa: bool = True
    """The change is a NUMA mechanism: judged only on the finding's socket count."""


KLEEN_EXIM = ("Kleen and Chen (Intel, 2011), Exim on 40 cores / 80 threads, Linux 2.6.38 "
              "and the absolute-path RCU-walk fix, as docs/calibration.md quotes it")
LKP_UNLINK2 = ("kernel test robot, [locking/qspinlock] ad3836e30e will-it-scale report, "
               "linux-kernel 2019-11-19, <20191119144826.GA28989@xsang-OptiPlex-9020>: "
               "unlink2, 96 threads, 4 NUMA nodes")
#: Every published gain, by workload.
GAINS: dict[str, PublishedGain] = {g.workload: g for g in (
    PublishedGain("wis:unlink2", "6.x", "6.x+cna", 96, 4, 11_574 / 6_672 - 1, LKP_UNLINK2,
                  "qspinlock -> CNA: +73.5% operations per thread at 96 threads"),
    PublishedGain("mosbench:exim", "2.6.38", "2.6.39", 40, 4, 1.97 - 1, KLEEN_EXIM,
                  "RCU-walk of absolute paths fixed: 1.97x messages at 40 cores", numa=False),
)}


def sockets_of(costs: Sequence[str]) -> int:
    """The socket count a run's ``--cost`` overrides give (1 without lock.sockets)."""
    from cofferos.timing import kernel_costs

    return int(kernel_costs(costs).mechanisms.get(f"lock.{SOCKETS_KEY}", 1))


def judge_gains(rows: Sequence[dict[str, Any]], costs: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One judgement per published gain whose base and variant rows (one container) are
    both in ``rows``: the model's gain at the largest worker count and whether it agrees
    (``yes``/``no``; UNJUDGED on another socket count than the finding's)."""
    found = []
    sockets = sockets_of(costs)
    for gain in GAINS.values():
        by_version = {split_kernel(r["kernel"])[1]: r for r in rows
                      if r["workload"] == gain.workload and r["placement"] == ONE
                      and split_kernel(r["kernel"])[0] == "linux"}
        base, variant = by_version.get(gain.base), by_version.get(gain.variant)
        if base is None or variant is None or not base["throughput"][-1]:
            continue
        model = variant["throughput"][-1] / base["throughput"][-1] - 1
        size_ok = gain.gain / GAIN_FACTOR <= model <= gain.gain * GAIN_FACTOR
        other_machine = gain.numa and sockets != gain.sockets
        agrees = UNJUDGED if other_machine else "yes" if size_ok else "no"
        found.append({"workload": gain.workload, "base": base["kernel"],
                      "variant": variant["kernel"], "workers": base["workers"][-1],
                      "sockets": sockets, "gain": round(model, 3),
                      "published_gain": round(gain.gain, 3),
                      "published_workers": gain.workers, "published_sockets": gain.sockets,
                      "agrees": agrees, "source": gain.source})
    return found


def format_gains(gains: Sequence[dict[str, Any]]) -> str:
    """One line per judged gain, for ``coffersim validate``'s text output."""
    return "\n".join(
        f"{g['workload']}: {g['variant']} over {g['base']} at {g['workers']} workers on "
        f"{g['sockets']} socket(s): {g['gain']:+.1%} (published {g['published_gain']:+.1%} "
        f"at {g['published_workers']} on {g['published_sockets']}): agrees {g['agrees']}"
        for g in gains)
