#!/bin/sh
# measure.sh: the per-message work of a real Exim (Debian's exim4-daemon-light) on
# MOSBENCH-like traffic, for workloads/src/exim_work.h. Needs root (a private mount
# namespace gives the build's Debian-exim user a passwd entry: nothing is installed),
# apt-get, valgrind, strace, perf, gcc and python3. Not run by the tests or CI.
#
#   measure.sh insns N   user-space instructions by process (callgrind, a dump before each fork)
#   measure.sh calls N   system calls by kind (strace -f -c), for N and N+100 messages
#   measure.sh files N   the file calls of N messages by process and name (strace -ff)
#   measure.sh loop N    the same instruction count of workloads/src/mosbench.c, spin 0
#   measure.sh cpu N     the host CPU time of Exim's processes (a cpuacct cgroup holding
#                        the daemon and every process it starts), for N and 2N
#                        messages: user and system time a message, natively, on this host
#   measure.sh faults N  page faults by process role (perf record -e page-faults -c 1,
#                        every fault, with the fork tree from perf's task events)
#   measure.sh loop-faults N  the same of workloads/src/mosbench.c, spin 0
#   measure.sh shape N   each Exim process's mappings and resident pages (from /proc,
#                        sampled while N messages run), by role
#   measure.sh profile N where the CPU time of N messages goes, by kernel entry point
#                        (perf record -e cpu-clock -g of the daemon and its children)
# (Once a run, at its end, Exim re-executes itself without LD_LIBRARY_PATH, which it
# purges, and that one fails to start: outside the counted messages.)
set -eu
MODE=$1; N=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=${EXIM_SCRATCH:-/tmp/exim-measure}
EXIM=$W/root/usr/sbin/exim4
PATIENCE=120 # seconds to wait for the daemon to listen, and for the deliveries
mkdir -p "$W"; cd "$W"
if [ ! -x "$EXIM" ]; then
    apt-get download exim4-base exim4-daemon-light exim4-config libidn12
    for deb in *.deb; do dpkg -x "$deb" root; done
    chmod u-s "$EXIM" # valgrind does not follow a set-user-id program
fi
if [ "$MODE" = loop ] || [ "$MODE" = loop-faults ]; then
    gcc -static -O2 -DEXIM_NO_SPIN -I"$HERE/../../workloads/src" \
        "$HERE/../../workloads/src/mosbench.c" -o mosbench.nospin
    rm -rf cg mroot; mkdir cg
    if [ "$MODE" = loop-faults ]; then
        perf record -q -e page-faults -c 1 -o "$W/faults.data" \
            ./mosbench.nospin exim 1 "$N" "$W/mroot"
        perf script -i "$W/faults.data" --show-task-events -F pid,tid,event > faults.txt
        exec python3 "$HERE/summarize.py" loop-faults "$W/faults.txt" "$N"
    fi
    valgrind -q --tool=callgrind --trace-children=yes --dump-before=fork --dump-before=_Fork \
        --callgrind-out-file="$W/cg/cg.%p" ./mosbench.nospin exim 1 "$N" "$W/mroot"
    exec python3 "$HERE/summarize.py" loop "$W/cg" "$N"
fi
cp /etc/passwd passwd; cp /etc/group group
echo "Debian-exim:x:150:150::$W/run:/usr/sbin/nologin" >> passwd
echo "Debian-exim:x:150:" >> group
sed -e "s|@RUN@|$W/run|g; s|@EXIM@|$EXIM|" "$HERE/exim.conf.in" > exim.conf

# one run: the daemon under $PREFIX, N messages from the client, the daemon stopped
run() {
    n=$1; shift
    rm -rf run; mkdir -p run/spool run/log run/mail; : > run/mail/0
    chown -R 150:150 run; chmod 666 run/mail/0
    cat > inner.sh <<INNER
mount --bind $W/passwd /etc/passwd && mount --bind $W/group /etc/group
export LD_LIBRARY_PATH=$W/root/usr/lib/x86_64-linux-gnu
$* $EXIM -C $W/exim.conf -bdf -oX 2525 -oP $W/run/exim.pid &
trap 'kill \$(cat $W/run/exim.pid); wait' EXIT # (wait: a prefix such as perf finishes its output)
for i in \$(seq $PATIENCE); do [ -s $W/run/exim.pid ] && break; sleep 1; done; sleep 1 # listening
python3 $HERE/smtpclient.py 2525 $n 0
for i in \$(seq $PATIENCE); do [ "\$(grep -c '^From ' $W/run/mail/0)" = $n ] && break; sleep 1; done
sleep 2 # the last transport's exit
INNER
    unshare -m sh inner.sh || true
    echo "delivered $(grep -c '^From ' run/mail/0) of $n"
}
case $MODE in
insns)
    rm -rf cg; mkdir -m 1777 cg
    run "$N" valgrind -q --tool=callgrind --trace-children=yes --dump-before=fork \
        --dump-before=_Fork --callgrind-out-file="$W/cg/cg.%p"
    python3 "$HERE/summarize.py" insns "$W/cg" "$N" ;;
calls)
    run "$N" strace -f -c -o "$W/calls.a"
    run $((N + 100)) strace -f -c -o "$W/calls.b"
    python3 "$HERE/summarize.py" calls "$W/calls.a" "$W/calls.b" ;;
files)
    rm -rf files; mkdir files # one trace a process (-ff), so no call is split in two
    run "$N" strace -ff -e trace=%file,chdir,fchdir -o "$W/files/f"
    python3 "$HERE/summarize.py" files "$W/files" "$N" ;;
faults)
    run "$N" perf record -q -e page-faults -c 1 -o "$W/faults.data"
    perf script -i "$W/faults.data" --show-task-events -F pid,tid,event > faults.txt
    python3 "$HERE/summarize.py" faults "$W/faults.txt" "$N" ;;
shape)
    # (sampled while N messages run: each Exim process's mappings and resident pages,
    # with its parent, from /proc; the roles are summarize.py's, by the fork tree)
    rm -rf run shape.done
    ( while [ ! -e "$W/shape.done" ]; do
          for p in $(pgrep -x exim4); do
              echo "$p $(awk '{print $4}' /proc/$p/stat 2>/dev/null) $({ wc -l < /proc/$p/maps; } 2>/dev/null)" \
                  "$(awk '/^Rss|^Anonymous/ {printf "%s ", $2}' /proc/$p/smaps_rollup 2>/dev/null)"
          done
      done > "$W/shape.txt" ) &
    run "$N"; touch shape.done; wait
    python3 "$HERE/summarize.py" shape "$W/shape.txt" ;;
profile)
    run "$N" perf record -q -e cpu-clock -F 20000 -g -o "$W/profile.data"
    perf report -i "$W/profile.data" --children --sort sym --stdio -g none --percent-limit 1 \
        2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 ;;
cpu)
    [ -d /sys/fs/cgroup/cpuacct ] || {
        echo "measure.sh cpu: needs cgroup v1's cpuacct (/sys/fs/cgroup/cpuacct)" >&2; exit 2; }
    # (cgroup v1's cpuacct; every process the daemon starts stays in its cgroup, the
    # client outside it; a fresh cgroup a run, read once the daemon has stopped)
    for n in "$N" $((2 * N)); do
        CG=/sys/fs/cgroup/cpuacct/exim-measure.$n
        rmdir "$CG" 2>/dev/null || true; mkdir "$CG"
        printf '#!/bin/sh\necho $$ > %s/cgroup.procs\nexec "$@"\n' "$CG" > incg.sh
        chmod +x incg.sh
        run "$n" "$W/incg.sh"
        echo "$n $(cat "$CG/cpuacct.usage_user") $(cat "$CG/cpuacct.usage_sys")" >> cpu.txt
        rmdir "$CG"
    done
    python3 "$HERE/summarize.py" cpu "$W/cpu.txt" ;;
*) echo "usage: measure.sh insns|calls|files|loop|cpu|faults|loop-faults|profile|shape N" >&2; exit 2 ;;
esac
