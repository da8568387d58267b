"""PID namespaces (coffers/pid_ns.py): a C guest natively as root and in a coffer, and
busybox ``unshare -r -p -f`` from a shell.

``tests/procsys/pidns.c`` makes a namespace with unshare(CLONE_NEWPID) and checks
what its init and children see (pid 1, getppid 0, their numbers in fork, wait4,
waitid, SIGCHLD, kill and pidfd_open, an orphan reparented to the init, the init
deaf to SIGTERM from inside, SO_PEERCRED, SCM_CREDENTIALS and /proc/self/status's
NSpid, a thread's number, EINVAL for a thread once the caller's children go
elsewhere), that the init's exit kills the rest and closes the
namespace (ENOMEM), clone(CLONE_NEWPID), and nobody's need for a user namespace of
its own. ``unshare --mount-proc`` mounts a proc of the namespace's own, which ``ps``
lists; proc outside a nested PID namespace stays EPERM (checked in a coffer alone).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.rootfs import busybox_rootfs, host_applet_dir, run_busybox_in_coffer, run_busybox_native
from tests.support import needs_gcc
from tests.test_namespaces import run_guest_both

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="natively, PID namespaces need root or a userns")


@needs_gcc
@needs_root
def test_pid_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("pidns.c", tmp_path)
    for line in ("init: getpid 1 getppid 0 gettid 1 getpgrp 0",
                 "kill(getppid(), SIGTERM) = 0", "waitid si_pid 4 si_status 41",
                 "child: SO_PEERCRED pid 1", "init: SCM_CREDENTIALS pid 2",
                 "a thread after unshare(CLONE_NEWPID): EINVAL", "thread: gettid 6 getpid 1",
                 "outside: the sleeper's pipe end closed: yes",
                 "fork into the namespace after its init: ENOMEM",
                 "unshare(CLONE_NEWUSER | CLONE_NEWPID) = 0"):
        assert line in native.splitlines(), native
    assert out == native
    assert status == native_status == 0


#: ``unshare -r -p -f`` from a shell: the forked shell is pid 1 with no parent in
#: its namespace, and its own child sees it as 1.
PIDNS_SCRIPT = r"""unshare -r -p -f sh -c 'echo $$ $PPID; sh -c "echo \$PPID \$\$"; id -u'
echo "status $?"
echo $$"""


@needs_root
def test_busybox_unshare_pid_from_a_shell_as_natively(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_busybox_native(PIDNS_SCRIPT, cwd=workdir, applets=host_applet_dir(tmp_path))
    coffer = run_busybox_in_coffer(PIDNS_SCRIPT, root=root)
    native_lines = native.stdout.decode().splitlines()
    assert native_lines[:4] == ["1 0", "1 2", "0", "status 0"], native_lines
    # the last line is the outer shell's own pid, which differs between the runs
    assert coffer.stdout.decode().splitlines()[:4] == native_lines[:4], coffer
    assert coffer.status == native.status == 0


#: ``unshare -r -p -f --mount-proc``: a proc of the namespace's own, which ``ps`` reads
#: (its pids only: a coffer names the command by the exec'd symlink's target, busybox).
MOUNT_PROC_SCRIPT = r"""unshare -r -p -f --mount-proc sh -c 'echo $$; ps -o pid
readlink /proc/self; ls -d /proc/[0-9]*; grep -c "^proc /proc proc" /proc/mounts'
echo "status $?"
echo 'cut -d" " -f1,4-6 /proc/self/stat; grep -E "^(Tgid|Pid|PPid|NS)" /proc/self/status' >s
unshare -r -p -f --mount-proc sh -c 'sh s; ls /proc/self/task /proc/1/task; true'
rm s
"""


@needs_root
def test_busybox_unshare_mount_proc_and_ps_as_natively(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_busybox_native(MOUNT_PROC_SCRIPT, cwd=workdir,
                                applets=host_applet_dir(tmp_path))
    coffer = run_busybox_in_coffer(MOUNT_PROC_SCRIPT, root=root)
    assert native.stdout.decode().startswith("1\nPID"), native
    assert "\n3 2 0 0\nTgid:\t4\nPid:\t4\nPPid:\t2\nNStgid:\t4\n" in native.stdout.decode()
    assert (coffer.status, coffer.stdout) == (native.status, native.stdout) == (0, native.stdout)


def test_proc_cannot_be_mounted_outside_a_nested_pid_namespace(tmp_path: Path) -> None:
    """In a user namespace without a PID namespace of its own, proc stays EPERM
    (mount_capable: the coffer's PID namespace is the initial user namespace's)."""
    root = busybox_rootfs(tmp_path)
    coffer = run_busybox_in_coffer(
        "unshare -r -m sh -c 'mount -t proc proc /proc; echo $?'", root=root)
    assert coffer.stdout == b"1\n", coffer  # (busybox mount's status for EPERM)
    assert b"permission denied" in coffer.stderr, coffer
