"""Tests of a coffer's import of a host directory tree (cofferos.coffers.fs).

The host import is checked to be lazy, copy-on-write and confined to its root: the
host tree is byte-identical afterwards and no lookup ever returns host content from
outside the imported directory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from cofferos.coffers.fs import FileSystem
from tests.test_fs import make_file, raises

HOST_SECRET = b"HOST SECRET, outside the rootfs\n"
COFFER_PASSWD = b"root:x:0:0:coffer root:/root:/bin/sh\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A host rootfs three levels below tmp_path, next to a secret it must not reach.

    tmp_path/outside/secret        host content outside the rootfs
    tmp_path/a/b/rootfs/...        the rootfs, with symlinks that escape on the host
    """
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(HOST_SECRET)
    root = tmp_path / "a" / "b" / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(COFFER_PASSWD)
    (root / "bin").mkdir()
    (root / "bin" / "sh").write_bytes(b"\x7fELF fake shell")
    os.chmod(root / "bin" / "sh", 0o755)
    os.utime(root / "bin" / "sh", ns=(1_111, 2_222))
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"0123456789" * 1000)
    os.link(root / "data" / "big.bin", root / "data" / "hardlink")
    (root / "untouched").mkdir()
    (root / "untouched" / "file").write_bytes(b"never listed")
    os.symlink("/etc/passwd", root / "hostpw")
    os.symlink("/etc", root / "hostetc")
    os.symlink("/", root / "slash")
    os.symlink("../../..", root / "up")
    os.symlink("../../../outside/secret", root / "escape")
    os.mkfifo(root / "fifo")
    return root


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything observable about a host tree, without following symlinks."""
    seen: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["."] + dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                body: object = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                body = path.read_bytes()
            else:
                body = None
            key = str(path.relative_to(root))
            seen[key] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink, body)
    return seen


def all_contents(fs: FileSystem) -> list[bytes]:
    """The bytes of every readable regular file reachable in the coffer tree."""
    found: list[bytes] = []
    stack = [fs.root]
    while stack:
        directory = stack.pop()
        for _, inode in directory.entries():
            if inode.is_dir():
                stack.append(inode)
            elif inode.is_reg() and not inode.opaque:
                found.append(inode.read(0, inode.size))
    return found


@pytest.fixture
def host_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records every os.open and os.listdir call made while the test runs."""
    calls: list[tuple[str, str]] = []
    real_open, real_listdir = os.open, os.listdir

    def recording_open(path: str, *args: object, **kwargs: object) -> int:
        calls.append(("open", os.path.basename(str(path))))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    def recording_listdir(path: object = ".") -> list[str]:
        calls.append(("listdir", str(path)))
        return real_listdir(path)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "listdir", recording_listdir)
    return calls


def test_from_host_rejects_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FileSystem.from_host(str(tmp_path / "missing"))
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        FileSystem.from_host(str(tmp_path / "file"))


def test_import_keeps_host_metadata(rootfs: Path) -> None:
    fs = FileSystem.from_host(str(rootfs), dev=7)
    sh = fs.lookup("/bin/sh", fs.root)
    host = (rootfs / "bin" / "sh").lstat()
    assert (sh.mode, sh.uid, sh.gid, sh.mtime_ns) == (host.st_mode, host.st_uid, host.st_gid, 2_222)
    assert sh.stat().st_dev == 7 and sh.ino != host.st_ino
    assert fs.lookup("/up", fs.root, follow=False).readlink() == "../../.."
    big, hard = fs.lookup("/data/big.bin", fs.root), fs.lookup("/data/hardlink", fs.root)
    assert big is hard and big.nlink == 2
    assert fs.path_of(fs.lookup("/data", fs.root)) == "/data"


def test_import_is_lazy(rootfs: Path, host_calls: list[tuple[str, str]]) -> None:
    fs = FileSystem.from_host(str(rootfs))
    big = fs.lookup("/data/big.bin", fs.root)
    assert big.stat().st_size == 10_000
    fs.lookup("/bin/sh", fs.root).stat()
    assert ("open", "big.bin") not in host_calls and ("open", "sh") not in host_calls
    assert ("open", "untouched") not in host_calls  # never looked into, never listed
    assert big.read(9_995, 100) == b"56789"
    assert host_calls.count(("open", "big.bin")) == 1
    assert big.read(0, 3) == b"012" and big.write(0, b"x") == 1
    assert host_calls.count(("open", "big.bin")) == 1  # kept in memory after the first read
    listings = sum(1 for call, _ in host_calls if call == "listdir")
    fs.lookup("/data/hardlink", fs.root)
    fs.lookup("/data", fs.root).entries()
    assert sum(1 for call, _ in host_calls if call == "listdir") == listings


def test_host_is_never_written(rootfs: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    fs = FileSystem.from_host(str(rootfs))
    fs.populate_defaults()
    passwd = fs.open("/etc/passwd", fs.root, os.O_RDWR | os.O_APPEND, 0)
    passwd.write(passwd.size, b"guest:x:1000:1000::/home/guest:/bin/sh\n")
    fs.open("/bin/sh", fs.root, os.O_WRONLY | os.O_TRUNC, 0)
    fs.lookup("/data/big.bin", fs.root).truncate(3)
    fs.lookup("/data/hardlink", fs.root).write(20_000, b"tail")
    make_file(fs, "/data/new", b"new")
    bin_dir, data = fs.lookup("/bin", fs.root), fs.lookup("/data", fs.root)
    fs.rename(data, "new", bin_dir, "sh")
    fs.unlink(fs.root, "hostpw")
    fs.rename(fs.root, "untouched", data, "moved")
    fs.unlink(fs.lookup("/data/moved", fs.root), "file")
    fs.rmdir(data, "moved")
    fs.mkdir(fs.root, "fresh", 0o755)
    fs.unlink(fs.root, "up")
    assert b"guest:x:1000" in fs.lookup("/etc/passwd", fs.root).read(0, 1000)
    assert fs.lookup("/bin/sh", fs.root).read(0, 10) == b"new"
    assert fs.lookup("/data/big.bin", fs.root).size == 20_004
    assert snapshot(tmp_path) == before


def test_host_symlinks_resolve_inside_the_coffer(rootfs: Path) -> None:
    fs = FileSystem.from_host(str(rootfs))
    etc = fs.lookup("/etc", fs.root)
    assert fs.lookup("/hostpw", fs.root).read(0, 100) == COFFER_PASSWD
    assert fs.lookup("/hostetc", fs.root) is etc
    assert fs.lookup("/hostetc/passwd", fs.root).read(0, 100) == COFFER_PASSWD
    assert fs.lookup("/slash", fs.root) is fs.root
    assert fs.lookup("/up", fs.root) is fs.root
    assert fs.lookup("/up/up/up/etc", fs.root) is etc
    assert fs.lookup("/../../../etc", fs.root) is etc
    raises(errno.ENOENT, fs.lookup, "/escape", fs.root)
    raises(errno.ENOENT, fs.lookup, "/up/outside/secret", fs.root)
    raises(errno.ENOENT, fs.lookup, "/hostetc/shadow", fs.root)
    raises(errno.ENOENT, fs.lookup, "/hostetc/hostname", fs.root)  # not the host's
    fs.populate_defaults()
    assert fs.lookup("/hostetc/hostname", fs.root).read(0, 100) == b"coffer\n"
    assert fs.lookup("/hostpw", fs.root).read(0, 100) == COFFER_PASSWD  # not overwritten
    host_passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else None
    for contents in all_contents(fs):
        assert HOST_SECRET not in contents and contents != host_passwd


def test_host_swapped_for_symlink_after_import_is_not_followed(
    rootfs: Path, tmp_path: Path
) -> None:
    fs = FileSystem.from_host(str(rootfs))
    sh = fs.lookup("/bin/sh", fs.root)
    untouched = fs.lookup("/untouched", fs.root)  # listed in /, not yet looked into
    (rootfs / "bin" / "sh").unlink()
    os.symlink(tmp_path / "outside" / "secret", rootfs / "bin" / "sh")
    (rootfs / "untouched" / "file").unlink()
    (rootfs / "untouched").rmdir()
    os.symlink(tmp_path / "outside", rootfs / "untouched")
    raises(errno.EIO, sh.read, 0, 100)
    raises(errno.EIO, fs.lookup, "/untouched/secret", fs.root)
    raises(errno.EIO, untouched.entries)


def test_host_special_files_are_opaque(rootfs: Path, host_calls: list[tuple[str, str]]) -> None:
    fs = FileSystem.from_host(str(rootfs))
    fifo = fs.lookup("/fifo", fs.root)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and fifo.opaque and fifo.size == 0
    raises(errno.EACCES, fifo.read, 0, 1)
    raises(errno.EACCES, fifo.write, 0, b"x")
    raises(errno.EACCES, fs.open, "/fifo", fs.root, os.O_RDONLY | os.O_NONBLOCK, 0)
    raises(errno.EACCES, fs.open, "/fifo", fs.root, os.O_WRONLY | os.O_NONBLOCK, 0)
    assert ("open", "fifo") not in host_calls
    fs.unlink(fs.root, "fifo")
    assert stat.S_ISFIFO((rootfs / "fifo").lstat().st_mode)
