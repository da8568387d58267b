"""The trap's plain path (no tracer, recorder or personality) binds each call's
handler, arity and cycles once: what it charges must follow the dispatcher's
per-call cycles, including an architecture's extra added after construction."""

from __future__ import annotations

import io
import subprocess

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.workloads import build

CALLS = 50
EXTRA_CYCLES = 1_000
MAX_LOOP_CYCLES = 256  #: user cycles of one nullsys iteration, with room to spare


def _run_nullsys(extra: int) -> Coffer:
    program = str(build("nullsys"))
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    if extra:
        coffer.dispatcher.add_call_costs(lambda name: extra if name == "getppid" else 0)
    coffer.spawn(program, [program, str(CALLS)])
    result = coffer.run()
    assert result.exit_code == 0
    return coffer


def test_plain_path_charges_added_call_costs() -> None:
    plain, costed = _run_nullsys(0), _run_nullsys(EXTRA_CYCLES)
    getppid = SYSCALL_NUMBERS["getppid"]
    assert plain.stats.calls[getppid] == costed.stats.calls[getppid] == CALLS
    assert costed.stats.kernel_cycles - plain.stats.kernel_cycles == CALLS * EXTRA_CYCLES


def test_plain_path_output_matches_native() -> None:
    """Results written on the plain path reach the guest: its output is its native one."""
    program = str(build("nullsys"))
    stdout = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=stdout, stderr=io.BytesIO())
    coffer.spawn(program, [program, str(CALLS)])
    assert coffer.run().exit_code == 0
    native = subprocess.run([program, str(CALLS)], capture_output=True, check=True).stdout
    assert stdout.getvalue() == native


def test_recorded_calls_are_stamped_in_whole_user_cycles() -> None:
    """A timing machine's record of each call carries the user cycles the guest had run
    when it trapped, in whole cycles: the counter's word is fixed point (isa/layout.py),
    and a record stamped with the raw word put every call 256 times later than its
    page faults, which the replay then ordered wrongly."""
    program = str(build("nullsys"))
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    records: list[tuple] = []
    coffer.dispatcher.recorder = records
    coffer.spawn(program, [program, str(CALLS)])
    assert coffer.run().exit_code == 0
    getppid = SYSCALL_NUMBERS["getppid"]
    stamps = [record[2] for record in records if record[1] == getppid]
    assert len(stamps) == CALLS and stamps == sorted(stamps)
    assert all(isinstance(stamp, int) for stamp in stamps)
    # nullsys's loop runs a handful of instructions a call: far under 256 cycles each
    assert 0 < stamps[-1] - stamps[0] < MAX_LOOP_CYCLES * (CALLS - 1)
