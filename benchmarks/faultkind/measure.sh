#!/bin/sh
# measure.sh: what a page fault costs on this host, by kind (faultkind.c: a fresh
# anonymous page, a forked child's copy-on-write, its read of an inherited page, the
# parent's reuse, a cached file page), per page touched, best of 20 passes over 4,096
# pages, with the minor faults a page took. Builds faultkind.c (static glibc) into a
# scratch directory. Not run by the tests or CI.
#
#   sh benchmarks/faultkind/measure.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
W=${FAULTKIND_SCRATCH:-/tmp/faultkind}
mkdir -p "$W"
gcc -O2 -static "$HERE/faultkind.c" -o "$W/faultkind"
"$W/faultkind" "$W/faultkind.data" | awk '
    { us[$1] = $2; per[$1] = $3 }
    END {
        printf "%-9s %9s %13s %10s\n", "kind", "us a page", "faults a page", "us a fault"
        split("zero cow cow-read reuse file", kinds, " ")
        for (i = 1; i <= 5; i++) {
            k = kinds[i]
            fault = "-" # (a comparison among the printf arguments would be a redirection)
            if (per[k] > 0)
                fault = sprintf("%.2f", us[k] / per[k])
            printf "%-9s %9.3f %13.3f %10s\n", k, us[k], per[k], fault
        }
        printf "copy-on-write / zero-fill fault: %.2fx\n", us["cow"] / us["zero"]
    }'
