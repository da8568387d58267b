"""Wake-up preemption: a task woken by the running one runs next when it is behind.

``tests/syscalls_misc/gil.c`` is CPython's GIL between two threads as test_signal's
StressTest drives it (one thread drops and retakes the lock around a system call
while the other needs it for long stretches). Without wake-up preemption the
waker retakes the lock every time before the woken thread runs, and the run
takes billions of instructions instead of tens of millions; with it the guest
prints what it prints natively within a small instruction budget.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.support import NATIVE_TIMEOUT_S, compile_guest, needs_gcc

GUEST = Path(__file__).parent / "syscalls_misc" / "gil.c"
#: About 55 million instructions with wake-up preemption; over 2 billion without.
INSTRUCTION_LIMIT = 500_000_000


@needs_gcc
def test_woken_gil_waiter_gets_the_lock_as_natively(tmp_path: Path) -> None:
    binary = compile_guest(GUEST, tmp_path, libs=["-pthread"])
    native = subprocess.run([str(binary)], capture_output=True, timeout=NATIVE_TIMEOUT_S,
                            check=False)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp", instruction_limit=INSTRUCTION_LIMIT),
                    stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name], [])
    result = coffer.run()
    assert result.oopses == []
    assert (result.exit_code, out.getvalue()) == (native.returncode, native.stdout)
    assert native.stdout == b"main did 400 units of work\n"
