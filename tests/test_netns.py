"""Network namespaces (issue #14): unshare and clone with CLONE_NEWNET, the devices,
ports and AF_UNIX names of each, SIOCSIFFLAGS and RTM_NEWLINK bringing lo up; and
/proc/PID/ns with setns(2); time and cgroup namespaces.

``tests/procsys/netns.c`` runs natively as root and in a coffer and must print the
same: a namespace's lo starts down without addresses (loopback unreachable, ::1 not
bindable), is brought up by SIOCSIFFLAGS, and each namespace has its own ports and
abstract names while path names are shared files; a socket keeps the namespace it
was made in; nobody changes devices only in a namespace of its own user namespace,
where it may also bind a port below 1024. A busybox script does what a rootless
container runtime does (``unshare -r -n``, ``ip link set lo up``, ``ip addr``, nc).
``tests/procsys/setns.c`` reads /proc/PID/ns and joins another process's
namespaces by their files and by a pidfd, with Linux's refusals.
``tests/procsys/timens.c`` sets a new time namespace's offsets and reads the clocks,
uptime, absolute sleeps and timerfds from inside, ``tests/procsys/cgroupns.c``
makes cgroup namespaces and reads /proc/self/cgroup.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.rootfs import (
    busybox_rootfs,
    host_applet_dir,
    run_busybox_in_coffer,
    run_busybox_native,
)
from tests.support import needs_gcc
from tests.test_namespaces import run_guest_both

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="natively, network namespaces need root")


@needs_gcc
@needs_root
def test_network_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("netns.c", tmp_path)
    for line in ("child: lo flags 0x8 (up 0)",
                 "child: connect 127.0.0.1 with lo down: ENETUNREACH",
                 "child: bind ::1 with lo down: EADDRNOTAVAIL",
                 "child: addresses 2/8 10/128",
                 "child: connect to the parent's port: ECONNREFUSED",
                 "child: listen on the same port: ok",
                 "child: connect with the socket made before: ok",
                 "child: bind the parent's abstract name: ok",
                 "child: connect to the parent's path name: ok",
                 "child: addresses 2/8",
                 "child: lo up by RTM_NEWLINK: ok",
                 "nobody: lo down here by RTM_NEWLINK: EPERM",
                 "nobody: lo down here: EPERM",
                 "nobody: listen on a port below 1024: ok"):
        assert line in native.splitlines(), (line, native)
    assert out == native
    assert status == native_status == 0


#: A rootless runtime's network setup: a namespace of its own, lo brought up by
#: SIOCSIFFLAGS (busybox) and shown by rtnetlink, a server on a port below 1024 (the
#: client retries until the server listens: a fixed sleep lost that race under load).
NETNS_SCRIPT = r"""unshare -r -n ip link; echo "status $?"
unshare -r -n sh -c 'ip link set lo up && ip link && ip addr && ip route
nc -l -p 80 -e echo served & for try in 1 2 3 4 5 6 7 8 9 10; do
nc 127.0.0.1 80 </dev/null 2>/dev/null && break; sleep 0.3; done; wait'
echo "status $?"
unshare -r -n sh -c 'echo hi | nc 127.0.0.1 80'; echo "status $?"
"""


@needs_root
def test_busybox_unshare_net_from_a_shell_as_natively(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_busybox_native(NETNS_SCRIPT, cwd=workdir, applets=host_applet_dir(tmp_path))
    coffer = run_busybox_in_coffer(NETNS_SCRIPT, root=root)
    lines = native.stdout.decode().splitlines()
    assert lines[0] == "1: lo: <LOOPBACK> mtu 65536 qdisc noop qlen 1000", lines
    assert "    inet 127.0.0.1/8 scope host lo" in lines and "served" in lines, lines
    assert lines[-1] == "status 1", lines  # lo is down: nc cannot connect
    assert (coffer.status, coffer.stdout) == (native.status, native.stdout), coffer
    assert coffer.stderr == native.stderr


@needs_gcc
@needs_root
def test_proc_ns_links_and_setns_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("setns.c", tmp_path)
    for line in ("ns: . .. net uts ipc pid pid_for_children user mnt cgroup time "
                 "time_for_children",
                 "net -> net:[same as st_ino 1] st_dev 0:4 mode 100444 link mode 120777",
                 "child against parent: net=other uts=other ipc=other pid=same "
                 "pid_for_children=same user=same mnt=other cgroup=same time=same "
                 "time_for_children=same",
                 "nodename joined",
                 "connect with a socket made after: ok",
                 "connect with a socket made before: ENETUNREACH",
                 "the child's tmpfs file after: ok",
                 "grandchild's child: pid 2",
                 "nobody in its user namespace: setns net: EPERM",
                 "nobody: setns its own user namespace: EINVAL",
                 "uid 65534 euid 65534, user same as the other's 1"):
        assert line in native.splitlines(), (line, native)
    assert out == native
    assert status == native_status == 0
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
def test_time_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("timens.c", tmp_path)
    for line in ("set a negative clock: ERANGE",
                 "monotonic       86400       500",
                 "child: monotonic ahead a day 1, boottime two days 1, realtime not 1",
                 "child: uptime at least two days 1",
                 "child: timerfd fired 1, both within a second 1",
                 "child: set offsets of its own namespace: EACCES",
                 "set offsets of a second new one: ok",
                 "nobody: unshare CLONE_NEWTIME: EPERM",
                 "after setns: boottime ahead 7 s 1, time is time_for_children 1"):
        assert line in native.splitlines(), (line, native)
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
def test_cgroup_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("cgroupns.c", tmp_path)
    for line in ("after unshare: 0::/", "another cgroup namespace 1",
                 "clone child: a namespace of its own 1",
                 "nobody: unshare CLONE_NEWCGROUP: EPERM", "nobody: setns back: EPERM",
                 "back in the first 1"):
        assert line in native.splitlines(), (line, native)
    assert out == native
    assert status == native_status == 0
