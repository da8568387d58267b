#!/bin/sh
# measure.sh: what a fork costs here beyond a small process's, for each mapping and each
# resident page of the parent (sim/costmodel.py: fork_mapping_work, fork_page_work).
# Builds forksize.c (static glibc) into a scratch directory and runs a grid of shapes;
# each point is the best of 400 fork + _exit + waitpid. Not run by the tests or CI.
#
#   sh benchmarks/forksize/measure.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
W=${FORKSIZE_SCRATCH:-/tmp/forksize}
mkdir -p "$W"
gcc -O2 -static "$HERE/forksize.c" -o "$W/forksize"
for vmas in 0 200 800; do
    for pages in 0 1000 4000; do
        "$W/forksize" "$vmas" "$pages"
    done
done > "$W/grid.txt"
python3 - "$W/grid.txt" <<'FIT'
import sys
import numpy
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
base = [r for r in rows if r[0] == 0 and r[1] == 0][0]
# least squares: us = base + a * mappings + b * pages over the whole grid
A = numpy.array([[r[3] - base[3], r[4] - base[4]] for r in rows])
y = numpy.array([r[2] - base[2] for r in rows])
(per_mapping, per_page), *_ = numpy.linalg.lstsq(A, y, rcond=None)
for r in rows:
    print(f"{int(r[0]):4d} extra mappings, {int(r[1]):5d} extra pages: {r[2]:8.2f} us "
          f"({int(r[3])} mappings, {int(r[4])} anonymous pages)")
print(f"small process ({int(base[3])} mappings, {int(base[4])} anonymous pages): {base[2]:.1f} us")
print(f"a mapping: {per_mapping * 1e3:.0f} ns, a resident page: {per_page * 1e3:.1f} ns "
      f"(least squares over the grid)")
FIT
