"""The calibration suite: what the ``lmbench`` workload measures, and reading what it prints.

``coffersim calibrate`` runs one binary, ``src/lmbench.c``, natively and in a
coffer. The program times each operation with ``clock_gettime(CLOCK_MONOTONIC)``
as lmbench does on real hardware, so natively it reports real time and in a
coffer it reports simulated time; both are compared with the published figure
for the same operation. :data:`CALIBRATION_OPS` lists the operations in the
order ``lmbench all`` runs them, each with that figure and the row of
``docs/calibration.md`` it comes from (Linux with KPTI and retpoline, where
the source gives both). :func:`parse_lmbench_output` turns the program's output,
one ``<op> <iterations> <nanoseconds per operation>`` line per operation, into
microseconds per operation.

    >>> parse_lmbench_output("null 20000 169\\nfork 500 122050\\n")
    {'null': 0.169, 'fork': 122.05}
    >>> CALIBRATION_OPS[0].name, CALIBRATION_OPS[0].reference_us
    ('null', 0.23)

The catalog entry is :data:`cofferos.workloads.catalog.WORKLOADS` ``["lmbench"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from cofferos.errors import WorkloadError

__all__ = ["CALIBRATION_OPS", "CalibrationOp", "LMBENCH_WORKLOAD", "parse_lmbench_output"]

#: The catalog name of the program that prints what :func:`parse_lmbench_output` reads.
LMBENCH_WORKLOAD = "lmbench"
#: Fields on each output line: op, iterations, nanoseconds per operation.
LINE_FIELDS = 3
NS_PER_US = 1000.0


@dataclass(frozen=True)
class CalibrationOp:
    """One operation of the suite and the published figure it is compared with."""

    name: str
    """The ``lmbench`` subcommand, and the first field of its output line."""
    description: str
    """One line: what a single timed operation is."""
    reference_us: float
    """Published latency of one operation on Linux, in microseconds."""
    source: str
    """The row of ``docs/calibration.md`` the reference comes from: constant | cycles | basis."""


CALIBRATION_OPS: tuple[CalibrationOp, ...] = (
    CalibrationOp(
        "null",
        "syscall(SYS_getppid): system call entry and exit around no work",
        0.23,
        "system call entry+exit, KPTI + retpoline | 700 | M: 228-237 ns on Skylake "
        "(2018 measurements); LEBench kernel 4.15 getpid 420 ns on its machine",
    ),
    CalibrationOp(
        "read",
        "read of 1 byte from /dev/zero (lmbench lat_syscall read)",
        0.68,
        "small read | 780 (2,040 mitigated) | M: LEBench 0.26 / 0.68 us",
    ),
    CalibrationOp(
        "mmap",
        "mmap of one 4 KiB anonymous page, nothing touched (munmap untimed, as LEBench)",
        0.79,
        "small mmap | 1,100 (2,370 mitigated) | M: LEBench 0.37 / 0.79 us",
    ),
    CalibrationOp(
        "pagefault",
        "first write to one page of a fresh anonymous mapping",
        0.85,
        "first-touch page fault | 1,700 (2,550 mitigated) | M: LEBench 0.56 / 0.85 us",
    ),
    CalibrationOp(
        "pipe",
        "round trip of a 100-byte message to a forked child and back through two pipes",
        2.7,
        "pipe round trip, 100-byte messages | 8,200 | M: 2.7 us, ipc-bench on an EC2 VM",
    ),
    CalibrationOp(
        "ctx",
        "context switch: a 1-byte token between two processes pinned to one CPU, "
        "round trip / 2 (lmbench lat_ctx -s 0 2)",
        4.0,
        "context switch | 9,300-14,700 | M: LEBench 3.1 / 4.9 us",
    ),
    CalibrationOp(
        "fork",
        "fork, child _exit(0), parent waitpid",
        57.0,
        "fork + exit, small process | 165,000-180,000 | M: LEBench 55 / 60 us",
    ),
    CalibrationOp(
        "poll",
        "poll of 3 writable pipe ends for POLLOUT, timeout 0",
        1.1,
        "poll, few descriptors | 1,050 (3,300 mitigated) | M: LEBench 0.35 / 1.1 us",
    ),
)

_OPS_BY_NAME = {op.name: op for op in CALIBRATION_OPS}


def parse_lmbench_output(text: str) -> dict[str, float]:
    """Microseconds per operation by op name, in the order printed; blank lines are skipped.

    Raises :class:`WorkloadError` naming the line for anything else that is not
    ``<op> <iterations> <nanoseconds>`` with a known op, at least one iteration
    and a non-negative figure, for an op printed twice, and for no lines at all.

    >>> parse_lmbench_output("poll 10 abc")
    Traceback (most recent call last):
    ...
    cofferos.errors.WorkloadError: lmbench output line 1 'poll 10 abc': \
nanoseconds per operation must be an integer >= 0
    """
    results: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != LINE_FIELDS:
            _malformed(number, line, "expected '<op> <iterations> <nanoseconds per operation>'")
        name, iterations, nanoseconds = fields
        if name not in _OPS_BY_NAME:
            _malformed(number, line, f"unknown op {name!r}; known ops: {', '.join(_OPS_BY_NAME)}")
        if name in results:
            _malformed(number, line, f"op {name!r} appears twice")
        count = _integer(iterations)
        if count is None or count == 0:
            _malformed(number, line, "iterations must be an integer >= 1")
        per_op = _integer(nanoseconds)
        if per_op is None:
            _malformed(number, line, "nanoseconds per operation must be an integer >= 0")
        results[name] = per_op / NS_PER_US
    if not results:
        raise WorkloadError("lmbench output holds no results")
    return results


def _integer(text: str) -> int | None:
    """``text`` as a non-negative decimal integer, or None."""
    return int(text) if text.isascii() and text.isdigit() else None


def _malformed(number: int, line: str, why: str) -> NoReturn:
    raise WorkloadError(f"lmbench output line {number} {line!r}: {why}")
