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
``tests/procsys/ipcns.c`` a new IPC namespace. What only the model decides (the namespaces it does
not have, a coffer-wide mount table) is checked in a coffer alone, and the tmpfs
option parser directly.
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
    binary = compile_guest(GUESTS / "tmpfs.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out, native, status, native_status = run_both(binary, workdir)
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
    assert list(workdir.iterdir()) == []


@needs_gcc
@needs_root
def test_unshare_and_uts_names_match_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "unshare.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out, native, status, native_status = run_both(binary, workdir)
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
        "unshare(CLONE_NEWPID) = -1 EINVAL",
        "unshare(CLONE_NEWNET) = -1 EINVAL",
        "unshare(CLONE_NEWCGROUP) = -1 EINVAL",
        # another task lives: the coffer's one mount table and IPC space cannot split
        "unshare(CLONE_NEWNS) = -1 EINVAL",
        "unshare(CLONE_NEWIPC) = -1 EINVAL",
        "unshare(CLONE_NEWUTS) = 0",
        "unshare(CLONE_NEWNS | CLONE_NEWIPC) = 0",
    ]


@needs_gcc
@needs_root
def test_user_namespaces_match_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "userns.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    workdir.chmod(0o755)  # nobody works in it (the guest makes a 0777 directory there)
    out, native, status, native_status = run_both(binary, workdir)
    assert "write /proc/self/uid_map \"0 65534 1\": ok" in native, native
    assert out == native
    assert status == native_status == 0
    assert list(workdir.iterdir()) == []


@needs_gcc
@needs_root
def test_a_user_namespace_mounts_in_its_own_mount_namespace_as_natively(
        tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "userns_mount.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    workdir.chmod(0o755)  # nobody looks up its directories
    out, native, status, native_status = run_both(binary, workdir)
    assert 'mount("none", "mine", "tmpfs", MS_NOSUID, "size=64k,mode=0750,uid=0,gid=0") = 0' \
        in native, native
    assert "umount2(\"locked\", 0) = -1 EINVAL" in native, native
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
def test_capabilities_count_in_the_namespace_that_owns_the_object_as_natively(
        tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "userns_caps.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out, native, status, native_status = run_both(binary, workdir)
    assert "userns: setpriority -5 EACCES" in native, native
    assert "userns: bind port 1021 EACCES" in native, native
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
def test_a_new_ipc_namespace_is_empty_as_natively(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "ipcns.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    out, native, status, native_status = run_both(binary, workdir)
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
