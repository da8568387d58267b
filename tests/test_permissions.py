"""Discretionary access control and capabilities (issue #14, item 6).

``tests/syscalls_misc/perms.c`` builds a tree of files and directories with
chosen owners and modes as root, then lets children with other ids (nobody, a
user with a supplementary group, differing real and effective ids, kept and
raised capabilities) open, create, remove, rename, chmod, chown, utimensat,
access and execve; it must print the same in a coffer as natively (run as
root, as the tests run here). The unit tests below pin down the rules of
:mod:`cofferos.coffers.fs.permission` and :mod:`cofferos.coffers.capability` on
fake credentials and bare inodes.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from cofferos.coffers import capability as cap
from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.fs import permission as perm
from cofferos.coffers.fs.inode import Inode, Superblock
from cofferos.coffers.task import Credentials
from tests.support import compile_guest, needs_gcc
from tests.test_syscalls_misc import GUESTS, run_coffer

RUN_TIMEOUT_S = 120
NOBODY = 65534
USER, STAFF = 1000, 100


@dataclass(frozen=True)
class Cred:
    """The fields the permission checks read (the initial user namespace: None)."""

    fsuid: int = NOBODY
    fsgid: int = NOBODY
    groups: tuple[int, ...] = ()
    cap_effective: int = 0
    userns: None = None


ROOT = Cred(fsuid=0, fsgid=0, cap_effective=cap.CAP_FULL_SET)


def inode(mode: int, uid: int = 0, gid: int = 0) -> Inode:
    return Superblock(dev=1, now_ns=lambda: 0).new_inode(mode, uid=uid, gid=gid)


def errno_of(call, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(FsError) as info:
        call(*args)
    return info.value.errno


# -- the guest, natively and in a coffer --------------------------------------------------
@needs_gcc
@pytest.mark.skipif(os.geteuid() != 0, reason="the guest changes owners and ids: needs root")
def test_guest_matches_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "perms.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    status, out = run_coffer(binary)
    assert out.decode() == native.stdout.decode()
    assert status == native.returncode == 0
    assert "open root644 01 = -1 EACCES" in out.decode()  # the bits are enforced at all
    assert list(workdir.iterdir()) == []


@needs_gcc
@pytest.mark.skipif(os.geteuid() != 0, reason="the guest gives files away: needs root")
def test_set_id_programs_match_native(tmp_path: Path) -> None:
    """Set-user-ID and set-group-ID programs, no_new_privs and the saved ids after exec."""
    binary = compile_guest(GUESTS / "suidexec.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    if os.statvfs(workdir).f_flag & os.ST_NOSUID:
        pytest.skip("the native run's directory is mounted nosuid")
    native = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    status, out = run_coffer(binary)
    assert out.decode() == native.stdout.decode()
    assert status == native.returncode == 0
    assert "exec ./suid_root\n  uid 65534 0 0" in out.decode()
    assert list(workdir.iterdir()) == []


# -- generic_permission ---------------------------------------------------------------------
def test_only_one_class_of_bits_applies() -> None:
    """The owner gets the owner's bits even when others' bits would allow more."""
    f = inode(stat.S_IFREG | 0o077, uid=NOBODY)
    assert not perm.generic_permission(f, Cred(), perm.MAY_READ)
    assert perm.generic_permission(f, Cred(fsuid=USER), perm.MAY_READ | perm.MAY_WRITE)


def test_group_bits_through_a_supplementary_group() -> None:
    f = inode(stat.S_IFREG | 0o640, gid=STAFF)
    assert not perm.generic_permission(f, Cred(fsuid=USER, fsgid=USER), perm.MAY_READ)
    assert perm.generic_permission(f, Cred(fsuid=USER, groups=(STAFF,)), perm.MAY_READ)
    assert perm.generic_permission(f, Cred(fsuid=USER, fsgid=STAFF), perm.MAY_READ)
    assert not perm.generic_permission(f, Cred(fsgid=STAFF), perm.MAY_WRITE)


def test_root_overrides_all_but_execute_without_any_x_bit() -> None:
    nothing = inode(stat.S_IFREG | 0o000, uid=USER)
    assert perm.generic_permission(nothing, ROOT, perm.MAY_READ | perm.MAY_WRITE)
    assert not perm.generic_permission(nothing, ROOT, perm.MAY_EXEC)
    assert perm.generic_permission(inode(stat.S_IFREG | 0o001, uid=USER), ROOT, perm.MAY_EXEC)
    assert perm.generic_permission(inode(stat.S_IFDIR | 0o000), ROOT, perm.MAY_EXEC)


def test_dac_read_search_reads_and_searches_but_never_writes() -> None:
    reader = Cred(cap_effective=cap.cap_to_mask(cap.CAP_DAC_READ_SEARCH))
    directory, f = inode(stat.S_IFDIR | 0o700), inode(stat.S_IFREG | 0o600)
    assert perm.generic_permission(directory, reader, perm.MAY_READ | perm.MAY_EXEC)
    assert not perm.generic_permission(directory, reader, perm.MAY_WRITE | perm.MAY_EXEC)
    assert perm.generic_permission(f, reader, perm.MAY_READ)
    assert not perm.generic_permission(f, reader, perm.MAY_READ | perm.MAY_WRITE)


def test_inode_permission_raises_eacces_and_none_is_the_kernel() -> None:
    f = inode(stat.S_IFREG | 0o644)
    assert errno_of(perm.inode_permission, f, Cred(), perm.MAY_WRITE) == errno.EACCES
    perm.inode_permission(f, None, perm.MAY_WRITE)  # no credentials: no check


# -- directories: create, delete, the sticky bit ------------------------------------------
def test_may_delete_needs_write_and_search_then_the_sticky_bit_says_eperm() -> None:
    victim = inode(stat.S_IFREG | 0o644, uid=USER)
    assert errno_of(perm.may_delete, inode(stat.S_IFDIR | 0o755), victim, Cred()) \
        == errno.EACCES
    sticky = inode(stat.S_IFDIR | 0o1777)
    assert errno_of(perm.may_delete, sticky, victim, Cred()) == errno.EPERM
    perm.may_delete(sticky, victim, Cred(fsuid=USER))  # the file's owner
    perm.may_delete(inode(stat.S_IFDIR | 0o1777, uid=NOBODY), victim, Cred())  # the dir's
    fowner = Cred(cap_effective=cap.cap_to_mask(cap.CAP_FOWNER))
    perm.may_delete(sticky, victim, fowner)
    perm.may_delete(inode(stat.S_IFDIR | 0o777), victim, Cred())  # not sticky


def test_may_create_needs_write_and_search() -> None:
    assert errno_of(perm.may_create, inode(stat.S_IFDIR | 0o555), Cred()) == errno.EACCES
    assert errno_of(perm.may_create, inode(stat.S_IFDIR | 0o776), Cred()) == errno.EACCES
    perm.may_create(inode(stat.S_IFDIR | 0o773), Cred())


def test_new_inodes_belong_to_the_fs_ids_or_a_setgid_directory_group() -> None:
    creator = Cred(fsuid=USER, fsgid=USER)
    f = inode(stat.S_IFREG | 0o644)
    perm.inode_init_owner(f, inode(stat.S_IFDIR | 0o777), creator)
    assert (f.uid, f.gid) == (USER, USER)
    sgid = inode(stat.S_IFDIR | 0o2777, gid=STAFF)
    d = inode(stat.S_IFDIR | 0o755)
    perm.inode_init_owner(d, sgid, creator)
    assert (d.gid, d.mode & 0o7777) == (STAFF, 0o2755)
    prog = inode(stat.S_IFREG | 0o2755)
    perm.inode_init_owner(prog, sgid, creator)  # not in staff: setgid is dropped
    assert (prog.gid, prog.mode & 0o7777) == (STAFF, 0o755)
    kept = inode(stat.S_IFREG | 0o2755)
    perm.inode_init_owner(kept, sgid, replace(creator, groups=(STAFF,)))
    assert kept.mode & 0o7777 == 0o2755


def test_protected_hardlinks() -> None:
    theirs = inode(stat.S_IFREG | 0o644)
    assert errno_of(perm.may_linkat, theirs, Cred()) == errno.EPERM
    perm.may_linkat(inode(stat.S_IFREG | 0o666), Cred())  # readable and writable
    assert errno_of(perm.may_linkat, inode(stat.S_IFREG | 0o4666), Cred()) == errno.EPERM
    perm.may_linkat(inode(stat.S_IFREG | 0o600, uid=NOBODY), Cred())  # one's own


# -- the filesystem calls them ------------------------------------------------------------
def test_path_walk_needs_search_permission_on_every_component() -> None:
    fs = FileSystem()
    fs.populate_defaults()  # /root is 0700
    fs.open("/root/secret", fs.root, os.O_CREAT | os.O_WRONLY, 0o644)
    assert errno_of(fs.lookup, "/root/secret", fs.root, True, Cred()) == errno.EACCES
    assert errno_of(fs.lookup, "/root/../etc", fs.root, True, Cred()) == errno.EACCES
    assert fs.lookup("/root/secret", fs.root, cred=ROOT).is_reg()
    assert fs.lookup("/root/secret", fs.root).is_reg()  # the kernel's own lookup


def test_open_for_write_of_roots_file_is_eacces_and_creation_owns_to_the_caller() -> None:
    """The regression of the issue: nobody could write a root-owned 0644 file."""
    fs = FileSystem()
    fs.populate_defaults()
    f = fs.open("/etc/file", fs.root, os.O_CREAT | os.O_WRONLY, 0o644)
    assert (f.uid, f.gid) == (0, 0)
    nobody = Cred()
    assert errno_of(fs.open, "/etc/file", fs.root, os.O_WRONLY, 0, 0o022, nobody) \
        == errno.EACCES
    assert errno_of(fs.open, "/etc/new", fs.root, os.O_CREAT | os.O_WRONLY, 0o644, 0o022,
                    nobody) == errno.EACCES
    mine = fs.open("/tmp/mine", fs.root, os.O_CREAT | os.O_WRONLY, 0o644, 0o022, nobody)
    assert (mine.uid, mine.gid, mine.mode & 0o7777) == (NOBODY, NOBODY, 0o644)
    tmp = fs.lookup("/tmp", fs.root)
    assert errno_of(fs.unlink, tmp, "mine", Cred(fsuid=USER)) == errno.EPERM
    fs.unlink(tmp, "mine", nobody)


# -- capabilities across uid changes and exec ------------------------------------------------
def test_setuid_away_from_root_drops_every_capability() -> None:
    root = Credentials()
    nobody = cap.fix_setuid(root, replace(root, uid=NOBODY, euid=NOBODY, suid=NOBODY))
    assert (nobody.cap_effective, nobody.cap_permitted) == (0, 0)
    kept = replace(root, securebits=cap.SECBIT_KEEP_CAPS)
    after = cap.fix_setuid(kept, replace(kept, uid=NOBODY, euid=NOBODY, suid=NOBODY))
    assert (after.cap_effective, after.cap_permitted) == (0, cap.CAP_FULL_SET)


def test_effective_uid_round_trip_restores_the_effective_set() -> None:
    root = Credentials()
    away = cap.fix_setuid(root, replace(root, euid=NOBODY))  # saved uid 0 stays
    assert (away.cap_effective, away.cap_permitted) == (0, cap.CAP_FULL_SET)
    back = cap.fix_setuid(away, replace(away, euid=0))
    assert back.cap_effective == cap.CAP_FULL_SET


def test_setfsuid_moves_only_the_filesystem_capabilities() -> None:
    root = Credentials()
    fs_nobody = cap.fix_setfsuid(root, replace(root, fsuid=NOBODY))
    assert fs_nobody.cap_effective == cap.CAP_FULL_SET & ~cap.CAP_FS_SET
    assert cap.has_capability(fs_nobody, cap.CAP_SETUID)
    assert not cap.has_capability(fs_nobody, cap.CAP_DAC_OVERRIDE)
    assert cap.fix_setfsuid(fs_nobody, replace(fs_nobody, fsuid=0)).cap_effective \
        == cap.CAP_FULL_SET


def test_exec_recomputes_capabilities() -> None:
    root = replace(Credentials(), cap_effective=0, securebits=cap.SECBIT_KEEP_CAPS)
    again = cap.bprm_caps(root)
    assert again.cap_effective == again.cap_permitted == cap.CAP_FULL_SET
    assert not again.securebits & cap.SECBIT_KEEP_CAPS
    user = replace(Credentials(), uid=USER, euid=USER, suid=USER,
                   cap_permitted=cap.CAP_FULL_SET, cap_effective=0)
    assert cap.bprm_caps(user).cap_permitted == 0


def test_access_checks_as_the_real_ids() -> None:
    creds = replace(Credentials(), uid=USER, gid=USER)  # effective root, real user
    checked = cap.access_override(creds)
    assert (checked.fsuid, checked.fsgid, checked.cap_effective) == (USER, USER, 0)
    real_root = replace(Credentials(), euid=NOBODY, fsuid=NOBODY, cap_effective=0)
    assert cap.access_override(real_root).cap_effective == cap.CAP_FULL_SET


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a host file away needs root")
def test_imported_files_keep_their_host_owner_and_mode(tmp_path: Path) -> None:
    host = tmp_path / "rootfs"
    (host / "home").mkdir(parents=True)
    secret = host / "home" / "secret"
    secret.write_text("x")
    os.chown(secret, USER, STAFF)
    secret.chmod(0o600)
    fs = FileSystem.from_host(str(host))
    inode = fs.lookup("/home/secret", fs.root)
    assert (inode.uid, inode.gid, inode.mode & 0o7777) == (USER, STAFF, 0o600)
    assert errno_of(fs.open, "/home/secret", fs.root, os.O_RDONLY, 0, 0o022, Cred()) \
        == errno.EACCES
    assert fs.open("/home/secret", fs.root, os.O_RDONLY, 0, 0o022, Cred(fsuid=USER)) is inode
