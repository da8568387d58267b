"""tmpfs mount flags and remounts, mountinfo, unshare(2) and the UTS names.

Two C guests run natively as root and in a coffer and must print the same:
``tests/procsys/tmpfs.c`` mounts a tmpfs with flags and options in a private mount
namespace (ro, nosuid and a set-user-ID program, nodev, noexec, size=, mode=, uid=,
gid=; remounts of the filesystem and of the mount alone; EROFS, ENOSPC, EBUSY,
EACCES, EPERM where Linux gives them; /proc/self/mounts and mountinfo after each
step), and
``tests/procsys/unshare.c`` checks unshare's flags and a private UTS namespace,
and ``tests/procsys/userns.c`` user namespaces as a rootless container tool makes
them (as nobody: uid_map, setgroups, gid_map, ids and file owners through the
maps, capabilities inside), and ``tests/procsys/userns_mount.c`` the mounts such a
tool makes in its user namespace's own mount namespace (tmpfs, remounts, the
locked mounts it copied), ``tests/procsys/userns_caps.c`` the capabilities
Linux checks in the initial user namespace or the one owning the object, and
``tests/procsys/ipcns.c`` a new IPC namespace, ``tests/procsys/mntns.c`` mount and
IPC namespaces made by one process among others (unshare and clone), bind mounts,
read-only binds and moves, ``tests/procsys/devpts_ns.c`` a devpts instance of a
user namespace's own, and ``busybox unshare -r -m`` run from a shell. What only
the model decides (the namespaces it does not have) is checked in a coffer alone,
and the tmpfs option parser directly.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs import FsError, tmpfs
from tests.rootfs import (
    busybox_rootfs,
    host_applet_dir,
    run_busybox_in_coffer,
    run_busybox_native,
)
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "procsys"
RUN_TIMEOUT_S = 120
KIB = 1024
GIB = 1 << 30

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="natively, mounts and namespaces need root")


def run_both(binary: Path, workdir: Path, *args: str) -> tuple[str, str, int, int]:
    """(coffer output, native output, coffer status, native status)."""
    native = subprocess.run([str(binary), *args], cwd=workdir, env={},
                            stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    out, status = run_coffer(binary, *args)
    return out, native.stdout.decode(), status, native.returncode


def run_guest_both(source: str, tmp_path: Path) -> tuple[str, str, int, int]:
    """:func:`run_both` of the guest ``procsys/SOURCE`` built in ``tmp_path``, natively in
    a directory of its own that every user may search (nobody looks up its paths)."""
    binary = compile_guest(GUESTS / source, tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    workdir.chmod(0o755)
    return run_both(binary, workdir)


def run_coffer(binary: Path, *args: str) -> tuple[str, int]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name, *args], [])
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    return out.getvalue().decode(), result.exit_code


@needs_gcc
@needs_root
def test_tmpfs_flags_options_and_remounts_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("tmpfs.c", tmp_path)
    if native_status == 2:
        pytest.skip("no private mount namespace natively: " + native)
    assert out == native
    assert status == native_status == 0
    # the promises of the brief, all present in the shared transcript
    for line in ('open("m/f", O_CREAT | O_WRONLY, 0644) = -1 EROFS',
                 "write(fd, block, 1) = -1 ENOSPC",
                 'mount(NULL, "m", NULL, MS_REMOUNT | MS_RDONLY, NULL) = -1 EBUSY',
                 "execve(m/prog) = -1 EACCES", "mmap PROT_EXEC: EPERM",
                 'open("m/null", O_RDONLY) = -1 EACCES',
                 "exec'd hello, euid 0\nmount(NULL",  # set-user-ID 5, ignored on nosuid
                 "exec'd hello, euid 5\n",
                 "mountinfo . ro,nosuid,relatime - tmpfs none rw,size=128k,mode=750,uid=5,gid=6"):
        assert line in out, line
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
def test_unshare_and_uts_names_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("unshare.c", tmp_path)
    assert out == native
    assert status == native_status == 0
    assert "grandchild: nodename inner domainname example, /proc says inner" in out
    assert "parent: nodename unchanged 1" in out
    assert "clone child: nodename cloned domainname (none), /proc says cloned" in out
    assert "clone parent: nodename unchanged 1" in out


@needs_gcc
def test_what_only_the_model_decides_about_namespaces(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "unshare.c", tmp_path)
    out, status = run_coffer(binary, "coffer")
    assert status == 0
    assert out.splitlines()[1:] == [
        "max_user_namespaces 15000",
        "unshare(CLONE_NEWUSER) = 0",  # root becomes unmapped, with every capability
        "unshare(CLONE_NEWPID) = 0",  # the next child is pid 1 of a new namespace
        "unshare(CLONE_NEWNET) = 0",  # only lo, down (tests/test_netns.py)
        "unshare(CLONE_NEWCGROUP) = 0",  # (tests/test_netns.py)
        # another task lives: it keeps the namespaces the caller leaves, as in Linux
        "unshare(CLONE_NEWNS) = 0",
        "unshare(CLONE_NEWIPC) = 0",
        "unshare(CLONE_NEWUTS) = 0",
        "unshare(CLONE_NEWNS | CLONE_NEWIPC) = 0",
    ]


@needs_gcc
@needs_root
def test_user_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("userns.c", tmp_path)
    assert "write /proc/self/uid_map \"0 65534 1\": ok" in native, native
    assert out == native
    assert status == native_status == 0
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
def test_a_user_namespace_mounts_in_its_own_mount_namespace_as_natively(
        tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("userns_mount.c", tmp_path)
    assert 'mount("none", "mine", "tmpfs", MS_NOSUID, "size=64k,mode=0750,uid=0,gid=0") = 0' \
        in native, native
    assert "umount2(\"locked\", 0) = -1 EINVAL" in native, native
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
def test_a_process_among_others_makes_mount_and_ipc_namespaces_as_natively(
        tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("mntns.c", tmp_path)
    for line in ("unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC) = 0",
                 'mount("src", "b", NULL, MS_BIND, NULL) = 0', "write b/new: EROFS",
                 'mount("a", "m", NULL, MS_MOVE, NULL) = 0', "parent: b/sub: ENOENT",
                 "child: b listed 1 time(s)", "parent: b listed 0 time(s)",
                 "clone: a: dir, another filesystem"):
        assert line in native, native
    assert out == native
    assert status == native_status == 0
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
def test_a_user_namespace_mounts_its_own_devpts_as_natively(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("devpts_ns.c", tmp_path)
    for line in ('mount("devpts", "pts", "devpts", 0, "newinstance,gid=5") = -1 EINVAL',
                 "mountinfo: rw,nosuid,noexec,relatime - devpts devpts rw,mode=620,ptmxmode=666",
                 "pts: . .. 0 ptmx", "slave read hi", "/dev/pts: . .. 0 ptmx"):
        assert line in native, native
    assert out == native
    assert status == native_status == 0


#: ``unshare -r -m`` run from a shell (which forks it: the shell lives on in the first
#: namespaces): a tmpfs, a bind mount over it, a read-only bind and a move, unseen by
#: the shell afterwards, and a directory bound on itself (a mount point made).
UNSHARE_SCRIPT = r"""mkdir x y src; echo hi > src/f
unshare -r -m sh -c "mount -t tmpfs none x && echo in > x/g && mount --bind src x &&
  cat x/f && umount x && cat x/g && id -u && grep -c \" \$PWD/x \" /proc/self/mountinfo"
echo "status $?"
unshare -r -m sh -c "mount --bind src x && mount -o remount,bind,ro x &&
  { echo no > x/n || echo refused; } && mount --move x y && cat y/f && ls x && umount y &&
  ls y"
echo "status $?"
unshare -r -m sh -c "mount --bind src src && umount src && echo self-bind"
ls x y
grep -c " $PWD/x " /proc/self/mountinfo
rm -r x y src"""


@needs_root
def test_busybox_unshare_from_a_shell_mounts_as_natively(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_busybox_native(UNSHARE_SCRIPT, cwd=workdir, applets=host_applet_dir(tmp_path))
    coffer = run_busybox_in_coffer(UNSHARE_SCRIPT, root=root)
    assert native.stdout.decode().split() == ["hi", "in", "0", "1", "status", "0", "refused",
                                              "hi", "status", "0", "self-bind", "x:", "y:",
                                              "0"]
    assert (coffer.status, coffer.stdout) == (native.status, native.stdout) == (0, native.stdout)
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
def test_capabilities_count_in_the_namespace_that_owns_the_object_as_natively(
        tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("userns_caps.c", tmp_path)
    assert "userns: setpriority -5 EACCES" in native, native
    assert "userns: bind port 1021 EACCES" in native, native
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
def test_a_new_ipc_namespace_is_empty_as_natively(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("ipcns.c", tmp_path)
    assert "shmget keyed again: ENOENT" in native, native
    assert out == native
    assert status == native_status == 0


def test_tmpfs_options_parse_and_show_as_shmem_does() -> None:
    parsed = tmpfs.parse("size=50%,mode=0700,uid=1000,gid=100,nr_inodes=1k,inode64",
                         ram_bytes=GIB)
    assert parsed.size_bytes == GIB // 2
    assert tmpfs.show(parsed) == ",size=524288k,nr_inodes=1024,mode=700,uid=1000,gid=100"
    assert tmpfs.parse("size=0x1001", GIB).blocks == 2  # rounded up to whole pages
    assert tmpfs.parse("nr_blocks=3", GIB).size_bytes == 3 * tmpfs.PAGE_SIZE
    assert tmpfs.show(tmpfs.parse("", GIB, fsuid=7, fsgid=8)) == ",uid=7,gid=8"
    remounted = tmpfs.parse("size=1m,mode=777,uid=1", GIB, current=parsed)
    assert (remounted.size_bytes, remounted.mode, remounted.uid) == (KIB * KIB, 0o700, 1000)
    for bad in ("size=12q", "size=", "mode=9", "uid=-1", "bogus", "inode64=1", "huge"):
        with pytest.raises(FsError) as info:
            tmpfs.parse(bad, GIB)
        assert info.value.errno == errno.EINVAL, bad
