"""Run one static program under Qiling and print its wall time (used by test_bench_peers).

Usage: python qiling_run.py ROOTFS PROGRAM [ARGS...]  -- PROGRAM must lie inside ROOTFS.
Runs with Qiling's output off and multithread=True (its fork support needs it:
without it clone fails in Qiling 1.4.6). Prints "seconds <wall seconds>".
"""

import sys
import time

from qiling import Qiling
from qiling.const import QL_VERBOSE

rootfs, program, *args = sys.argv[1:]
started = time.perf_counter()
ql = Qiling([program, *args], rootfs=rootfs, verbose=QL_VERBOSE.DISABLED, multithread=True)
ql.run()
print(f"seconds {time.perf_counter() - started}")
