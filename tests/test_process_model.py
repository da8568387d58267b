"""Acceptance tests of the process model: real programs that fork, exec, wait, signal and talk.

Everything here compares a coffer with reality. Busybox shell scripts run as
``/bin/sh -c SCRIPT`` in a coffer whose root is a busybox rootfs
(:mod:`tests.rootfs`) and natively with the same busybox applets alone on PATH;
the built-in workloads that use threads, processes, signals, pipes, poll/epoll
and sockets run natively and in a coffer; a TCP pair runs natively over
loopback and in two coffers on a virtual network. stdout, stderr and the exit
status must be identical.

Nothing printed depends on pids, addresses, timings or scheduling: every script
and workload was checked to print the same on repeated native runs. These tests
are the target of the process model (fork/vfork/clone, execve, wait4, signals,
pipes, futex, poll/epoll, sockets, /proc); until the kernel provides a path, the
tests that need it fail, and that is their purpose.
"""

from __future__ import annotations

import io
import socket
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.workloads import WORKLOADS, build, compilers_available
from tests.rootfs import (
    BUSYBOX,
    COFFER_CWD,
    INSTRUCTION_LIMIT,
    busybox_rootfs,
    host_applet_dir,
    install_program,
    run_busybox_in_coffer,
    run_busybox_native,
    static_library_available,
)
from tests.support import NATIVE_TIMEOUT_S, Outcome, run_in_coffer, run_native

pytestmark = pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")

#: The port the TCP server listens on inside a coffer (natively: any free port).
COFFER_TCP_PORT = "7000"
TCP_LINES = "50"
SERVER_ADDRESS = "10.0.0.1"
CLIENT_ADDRESS = "10.0.0.2"


def _same(native: Outcome, coffer: Outcome) -> None:
    assert coffer.stdout.decode(errors="replace") == native.stdout.decode(errors="replace")
    assert coffer.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert coffer.status == native.status
    assert coffer.result is None or not coffer.result.oopses


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return busybox_rootfs(tmp_path)


@pytest.fixture
def applets(tmp_path: Path) -> Path:
    return host_applet_dir(tmp_path)


@pytest.fixture
def native_cwd(tmp_path: Path) -> Path:
    """An empty directory, as the coffer's /tmp is empty."""
    directory = tmp_path / "native-cwd"
    directory.mkdir()
    return directory


# --- busybox shell scripts ------------------------------------------------------------------

#: (id, script): each runs as /bin/sh -c SCRIPT in an empty working directory.
SCRIPTS: list[tuple[str, str]] = [
    ("pipeline", "seq 1 100 | sort -r | head -n 3; seq 1 100 | sort -rn | head -n 3"),
    ("long-pipeline", "seq 1 2000 | grep 7 | tr 7 x | sort | uniq | wc -l"),
    ("command-substitution", r"""
        x=$(echo hello | tr a-z A-Z)
        n=$(seq 10 | wc -l)
        echo "$x $n"
        echo "nested $(echo $(echo deep) `echo back`)"
        lines=$(printf 'a\nb\n\n\n'); echo "[$lines]"
    """),
    ("subshells", r"""
        a=1
        (a=2; echo inner $a; exit 3)
        echo "status $? outer $a"
        d=$(pwd); (cd / && pwd); [ "$(pwd)" = "$d" ] && echo cwd kept
        { echo grouped; echo braces; } | wc -l
        echo "$( (echo from a subshell in a substitution; exit 4); echo status $? )"
    """),
    ("loops-and-arithmetic", r"""
        for i in 1 2 3; do printf '%s,' $i; done; echo
        i=0; while [ $i -lt 5 ]; do i=$((i + 1)); [ $i -eq 2 ] && continue; printf '%d ' $i; done
        echo
        n=10; until [ $n -le 7 ]; do n=$((n - 1)); done; echo "until stopped at $n"
        for x in a b c d; do [ $x = c ] && break; echo $x; done
        echo $((3 * (4 + 5) % 7)) $((1 << 10)) $((0x10 + 010))
        seq 3 | while read v; do echo "read $v"; done
    """),
    ("case", r"""
        for w in apple banana cherry 42 '' Zed; do
            case "$w" in
                a*) echo "$w: starts with a" ;;
                *an*) echo "$w: has an" ;;
                [0-9]*) echo "$w: number" ;;
                '') echo "(empty)" ;;
                [A-Z]*|cherry) echo "$w: capital or cherry" ;;
            esac
        done
    """),
    ("functions", r"""
        fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1 - 1))) )); fi; }
        echo "10! = $(fact 10)"
        args() { echo "$# args, first [$1], all [$*]"; shift; echo "after shift [$1]"; }
        args one "two words" three
        status() { return $1; }
        status 42; echo "returned $?"
        counter=0; bump() { counter=$((counter + 1)); }; bump; bump; echo "counter $counter"
    """),
    ("trap-usr1", r"""
        trap 'echo caught USR1' USR1
        kill -USR1 $$
        echo after kill
        trap 'echo exiting' EXIT
        trap - USR1
        echo done
    """),
    ("background-and-wait", r"""
        sleep 0.1 &
        wait
        echo "waited: $?"
        (exit 5) &
        wait $!
        echo "background status $?"
        (sleep 0.05; echo late) &
        echo early
        wait
    """),
    # Whether ash reports a killed background job ("Killed" on stderr) depends on
    # whether it reaps the job before or inside `wait`: a race, so those subshells'
    # stderr is discarded. A foreground job's report is deterministic and kept.
    ("kill-background-job", r"""
        (
            sleep 10 &
            pid=$!
            kill $pid
            wait $pid
            echo "TERM status $?"
            sleep 10 &
            kill -9 $!
            wait $!
            echo "KILL status $?"
        ) 2>/dev/null
        sh -c 'kill -USR2 $$'
        echo "self-signalled child status $?"
    """),
    ("redirections", r"""
        echo one > f; echo two >> f; cat f
        wc -l < f
        ls nosuch-file 2>&1 | sed 's/^/captured: /'
        { echo to-stdout; echo to-stderr >&2; } > both 2>&1; sort both
        exec 3> fd3; echo via fd 3 >&3; exec 3>&-; cat fd3
        cat < f > copy; cmp f copy && echo copies equal
        echo to stderr >&2
    """),
    ("here-documents", "x=expanded\ncat <<EOF\nvalue: $x\n$(echo substituted)\nEOF\n"
                       "cat <<'EOF'\nliteral: $x\nEOF\n"
                       "cat <<-EOF\n\tleading tabs gone\n\tEOF\n"
                       "tr a-z A-Z <<EOF | rev\nshout\nEOF\n"),
    ("sort-uniq", r"""
        printf 'b\na\nc\na\nb\na\n' | sort | uniq -c | sort -rn
        printf '3 x\n1 y\n2 z\n10 w\n' | sort -k1,1n
        printf 'b\na\nb\n' | sort -u
        printf 'x\ny\nx\n' | uniq -d; printf 'c\nc\nd\n' | uniq -u
    """),
    ("awk", r"""
        seq 1 10 | awk '{ s += $1; if ($1 % 2 == 0) e = e " " $1 }
                        END { print s, e; printf "%.2f\n", s / NR }'
        echo 'a:b:c' | awk -F: '{ print $3 $2 $1, NF }'
        printf 'x 1\ny 2\nx 3\n' | awk '{ t[$1] += $2 } END { print "x=" t["x"], "y=" t["y"] }'
        awk 'BEGIN { print length("coffer"), substr("coffer", 2, 3), toupper("os") }'
    """),
    ("sed", r"""
        seq 1 6 > n.txt
        sed -n '2,4p' n.txt | tr '\n' ' '; echo
        echo 'abab' | sed 's/\(a\)\(b\)/\2\1/g'
        echo 'one two' | sed -e 's/one/1/' -e 's/two/2/'
        sed -i 's/^3$/three/; /5/d' n.txt; cat n.txt
        printf 'x\ny\n' | sed '1i\
head' | sed '$a\
tail'
    """),
    ("grep", r"""
        printf 'apple\nBanana\ncherry\napricot\n' > fruit
        grep -c a fruit; grep -v a fruit; grep -i '^b' fruit; grep -E 'ap(ple|ricot)' fruit
        echo 'a1b22c333' | grep -o '[0-9]*'
        mkdir -p tree/sub; echo needle > tree/sub/hay; echo straw > tree/other
        grep -r needle tree
        grep -q missing fruit; echo "no match status $?"
        grep nothing no-such-file; echo "missing file status $?"
    """),
    ("find", r"""
        mkdir -p d/a/b d/c
        touch d/a/x.txt d/a/b/y.txt d/c/z.log
        find d -name '*.txt' | sort
        find d -type d | sort
        find d -type f -exec basename {} \; | sort
        find d -name '*.log' -exec rm {} \; ; find d -type f | wc -l
    """),
    ("xargs", r"""
        seq 1 5 | xargs echo
        seq 1 6 | xargs -n 2 echo pair
        printf 'a\nb\nc\n' | xargs -I{} echo 'item {}'
        mkdir -p w; seq 3 > w/one; seq 5 > w/two
        find w -type f | sort | xargs wc -l
        echo x y | xargs -n1 sh -c 'echo "sh got $0"'
    """),
    ("tar", r"""
        mkdir -p src/inner
        seq 1 100 > src/numbers; echo hi > src/inner/greeting
        tar cf a.tar src
        tar tf a.tar | sort
        mkdir out; tar xf a.tar -C out
        cmp src/numbers out/src/numbers && cat out/src/inner/greeting
        tar czf b.tgz src && tar tzf b.tgz | sort | tail -n 1
    """),
    ("gzip-round-trip", r"""
        seq 1 1000 > n.txt
        md5sum n.txt
        gzip n.txt; ls
        gunzip n.txt.gz; ls
        md5sum n.txt
        gzip -c n.txt | gunzip -c | wc -l
        echo compress me | gzip | gzip -d
    """),
    ("md5sum", r"""
        echo hello | md5sum
        printf '' | md5sum
        echo a > f1; echo b > f2
        md5sum f1 f2 > sums; cat sums
        md5sum -c sums
        echo c > f2; md5sum -c sums; echo "check status $?"
    """),
    ("text-applets", r"""
        seq 1 20 > n
        wc -l n; wc -c < n; wc -w n
        head -n 3 n | tr '\n' ' '; echo
        tail -n 2 n | tr '\n' ' '; echo
        tail -c 6 n | tr '\n' ' '; echo
        echo 'a:b:c:d' | cut -d: -f2,4
        echo 'hello' | cut -c2-4
        echo hello | tr 'a-y' 'b-z'
        echo 'bookkeeper' | tr -s 'oke'
        echo 'hello world' | tr -d 'lo'
    """),
    ("exit-statuses", r"""
        sh -c 'exit 3'; echo "child exit $?"
        false; echo "false $?"
        ! true; echo "negated $?"
        true && echo and-list; false || echo or-list
        (set -e; false; echo not printed); echo "set -e subshell $?"
        nosuchcommand 2>/dev/null; echo "not found $?"
        sleep 0.01; echo "sleep $?"
        exit 7
    """),
    ("read-and-ifs", r"""
        echo "a b c" | { read x y z; echo "$z $y $x"; }
        echo "k1:v1:rest:of:it" | { IFS=: read k v tail; echo "$k=$v ($tail)"; }
        printf 'l1\nl2\nl3\n' > lines
        while read line; do echo "<$line>"; done < lines
        set -- p q r; IFS=-; echo "$*"
    """),
]


@pytest.mark.parametrize(("name", "script"), SCRIPTS, ids=[name for name, _ in SCRIPTS])
def test_busybox_script_matches_native(name: str, script: str, rootfs: Path, applets: Path,
                                       native_cwd: Path) -> None:
    native = run_busybox_native(script, cwd=native_cwd, applets=applets)
    assert native.stdout, f"{name}: the native run printed nothing: {native.stderr!r}"
    _same(native, run_busybox_in_coffer(script, root=rootfs))


def test_script_file_with_arguments_matches_native(rootfs: Path, applets: Path,
                                                   native_cwd: Path) -> None:
    """A script read from a file in the rootfs (not -c), with positional parameters."""
    script = ('echo "$# args"\nfor a in "$@"; do echo "[$a]"; done\nshift 2\n'
              'echo "now $1, script $0"\n. ./lib.sh\nhelper\n')
    library = 'helper() { echo "sourced helper ran"; }\n'
    for directory in (native_cwd, rootfs / "tmp"):
        (directory / "args.sh").write_text(script)
        (directory / "lib.sh").write_text(library)
    run = 'sh ./args.sh one "two words" three'
    native = run_busybox_native(run, cwd=native_cwd, applets=applets)
    assert native.status == 0 and b"[two words]" in native.stdout
    _same(native, run_busybox_in_coffer(run, root=rootfs))


def test_stdin_flows_through_a_pipeline(rootfs: Path, applets: Path, native_cwd: Path) -> None:
    stdin = b"".join(b"%d\n" % (i * 37 % 101) for i in range(500))
    script = "sort -n | uniq | awk '{ s += $1 } END { print NR, s }'"
    native = run_busybox_native(script, cwd=native_cwd, applets=applets, stdin=stdin)
    _same(native, run_busybox_in_coffer(script, root=rootfs, stdin=stdin))


# --- built-in workloads ---------------------------------------------------------------------

#: (workload, libc, args): run natively and in a coffer, from /bin/<workload> in a busybox rootfs.
WORKLOAD_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("threads", "glibc", ()),
    ("threads", "musl", ()),
    ("threads", "glibc", ("8", "5000")),
    ("forkexec", "glibc", ()),
    ("forkexec", "musl", ()),
    ("sqlite", "glibc", ("test.db", "500")),
    ("sqlite", "glibc", ()),
    ("pipeline", "glibc", ()),
    ("unixsock", "glibc", ()),
]


def _require_workload(name: str, libc: str) -> Path:
    if libc == "musl" and not compilers_available()["musl-gcc"]:
        pytest.skip("musl-gcc not installed")
    if "-lsqlite3" in WORKLOADS[name].libs and not static_library_available("sqlite3"):
        pytest.skip("libsqlite3.a not installed (apt-get install libsqlite3-dev)")
    return build(name, libc)


@pytest.mark.parametrize(("name", "libc", "args"), WORKLOAD_CASES,
                         ids=[f"{n}-{c}-{'-'.join(a) or 'defaults'}" for n, c, a in WORKLOAD_CASES])
def test_workload_matches_native(name: str, libc: str, args: tuple[str, ...], rootfs: Path,
                                 native_cwd: Path) -> None:
    """The binary is the coffer's /bin/<name>, so /proc/self/exe and execve find it there."""
    program = _require_workload(name, libc)
    native = run_native(program, args, cwd=native_cwd, argv0=name)
    assert native.status == 0, native.stderr
    inside = install_program(rootfs, program, name)
    coffer = run_in_coffer(inside, args, argv0=f"/bin/{name}", rootfs=str(rootfs),
                           cwd=COFFER_CWD, instruction_limit=INSTRUCTION_LIMIT)
    _same(native, coffer)
    assert list(native_cwd.iterdir()) == []  # workloads clean up after themselves


def test_workloads_run_from_a_shell_pipeline(rootfs: Path, tmp_path: Path,
                                             native_cwd: Path) -> None:
    """A shell finds the workloads through PATH and pipes their output on."""
    programs = {name: _require_workload(name, "glibc") for name in ("forkexec", "threads")}
    for name, program in programs.items():
        install_program(rootfs, program, name)
    applets = host_applet_dir(tmp_path, programs)
    script = ("forkexec | grep -c 'forkexec: '; threads 2 100 | sort | head -n 2\n"
              "forkexec child 9 > out; echo \"child mode status $?\"; tr a-z A-Z < out; rm out")
    native = run_busybox_native(script, cwd=native_cwd, applets=applets)
    assert native.status == 0 and b"child mode status 9" in native.stdout
    _same(native, run_busybox_in_coffer(script, root=rootfs))


# --- TCP ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _native_tcp_pair(lines: str) -> tuple[Outcome, Outcome]:
    """tcpserver on a free loopback port, then tcpclient against it; both outcomes."""
    server_path, client_path = build("tcpserver"), build("tcpclient")
    port = str(_free_port())
    server = subprocess.Popen(["tcpserver", port], executable=str(server_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = run_native(client_path, ("127.0.0.1", port, lines), argv0="tcpclient")
        server_out, server_err = server.communicate(timeout=NATIVE_TIMEOUT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return Outcome(server.returncode, server_out, server_err), client


def test_tcp_loopback_inside_one_coffer(rootfs: Path, tmp_path: Path, native_cwd: Path) -> None:
    """A shell starts tcpserver in the background and tcpclient against 127.0.0.1."""
    programs = {name: build(name) for name in ("tcpserver", "tcpclient")}
    for name, program in programs.items():
        install_program(rootfs, program, name)
    applets = host_applet_dir(tmp_path, programs)
    script = ("tcpserver {port} > server.out & tcpclient 127.0.0.1 {port} 20; "
              "echo \"client status $?\"; wait $!; echo \"server status $?\"; "
              "cat server.out; rm server.out")
    native = run_busybox_native(script.format(port=_free_port()), cwd=native_cwd,
                                applets=applets)
    assert native.status == 0 and b"20 replies upper-cased correctly" in native.stdout
    _same(native, run_busybox_in_coffer(script.format(port=COFFER_TCP_PORT), root=rootfs))


def test_tcp_between_two_coffers_on_a_virtual_network() -> None:
    """Server coffer 10.0.0.1:7000, client coffer 10.0.0.2, one VirtualNetwork between them."""
    from cofferos.coffers.functional_machine import run_coffers
    from cofferos.coffers.network import VirtualNetwork

    native_server, native_client = _native_tcp_pair(TCP_LINES)
    assert native_server.status == 0 and native_client.status == 0

    net = VirtualNetwork()
    streams = {role: (io.BytesIO(), io.BytesIO()) for role in ("srv", "cli")}
    coffers = {}
    for role, address in (("srv", SERVER_ADDRESS), ("cli", CLIENT_ADDRESS)):
        out, err = streams[role]
        coffers[role] = Coffer(
            CofferConfig(name=role, address=address, instruction_limit=INSTRUCTION_LIMIT),  # type: ignore[call-arg]
            network=net, stdin=io.BytesIO(), stdout=out, stderr=err)  # type: ignore[call-arg]
    coffers["srv"].spawn(str(build("tcpserver")), ["tcpserver", COFFER_TCP_PORT])
    coffers["cli"].spawn(str(build("tcpclient")),
                         ["tcpclient", SERVER_ADDRESS, COFFER_TCP_PORT, TCP_LINES])
    run_coffers([coffers["srv"], coffers["cli"]])

    for role, native in (("srv", native_server), ("cli", native_client)):
        out, err = streams[role]
        result = coffers[role].result()
        assert out.getvalue().decode() == native.stdout.decode(), role
        assert err.getvalue().decode() == native.stderr.decode(), role
        assert result.exit_code == native.status, role
        assert not result.oopses, role
