"""Tests of a coffer's in-memory filesystem (cofferos.coffers.fs).

Each errno is checked against what Linux answers for the same call. The import of
a host tree has its own file, tests/test_fs_host_import.py.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

import pytest

from cofferos.coffers.fs import FileSystem, FsError, Inode, StatResult
from cofferos.coffers.fs.namei import MAXSYMLINKS, NAME_MAX, PATH_MAX

HOST_SECRET = b"HOST SECRET, outside the rootfs\n"
COFFER_PASSWD = b"root:x:0:0:coffer root:/root:/bin/sh\n"


class Clock:
    """A settable clock for the filesystem's timestamps."""

    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def raises(err: int, call: Callable[..., object], *args: object, **kwargs: object) -> None:
    with pytest.raises(FsError) as info:
        call(*args, **kwargs)
    assert info.value.errno == err, str(info.value)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fs(clock: Clock) -> FileSystem:
    filesystem = FileSystem(now_ns=clock)
    filesystem.populate_defaults()
    return filesystem


def make_file(fs: FileSystem, path: str, data: bytes = b"") -> Inode:
    inode = fs.open(path, fs.root, os.O_CREAT | os.O_WRONLY, 0o644)
    inode.write(0, data)
    return inode


# -- errors, inodes, independence ---------------------------------------------------


def test_fserror_carries_errno_and_names_it() -> None:
    err = FsError(errno.ENOENT, "/nope")
    assert err.errno == errno.ENOENT
    assert "ENOENT" in str(err) and "/nope" in str(err)
    assert "ENOTDIR" in str(FsError(errno.ENOTDIR))


def test_empty_filesystem_root() -> None:
    fs = FileSystem()
    assert fs.root.is_dir() and fs.root.parent is fs.root
    assert stat.S_IMODE(fs.root.mode) == 0o755
    assert fs.root.entries() == []
    assert fs.path_of(fs.root) == "/"
    assert fs.lookup("/", fs.root) is fs.root


def test_two_filesystems_share_nothing() -> None:
    a, b = FileSystem(dev=1), FileSystem(dev=2)
    assert a.root.ino == b.root.ino  # numbering is per filesystem
    file_a = make_file(a, "/only-in-a", b"a")
    raises(errno.ENOENT, b.lookup, "/only-in-a", b.root)
    file_b = make_file(b, "/only-in-b", b"b")
    assert file_a.ino == file_b.ino
    assert (file_a.stat().st_dev, file_b.stat().st_dev) == (1, 2)
    a.populate_defaults()
    raises(errno.ENOENT, b.lookup, "/etc", b.root)
    assert make_file(b, "/next").ino == file_b.ino + 1


def test_read_write_truncate(fs: FileSystem, clock: Clock) -> None:
    inode = make_file(fs, "/tmp/f")
    clock.now = 5_000
    assert inode.write(4, b"abc") == 3
    assert inode.read(0, 100) == b"\0\0\0\0abc"
    assert inode.read(7, 10) == b"" and inode.read(100, 1) == b""
    assert inode.size == 7 and inode.mtime_ns == inode.ctime_ns == 5_000
    clock.now = 6_000
    assert inode.write(0, b"") == 0 and inode.mtime_ns == 5_000
    inode.truncate(2)
    assert inode.read(0, 10) == b"\0\0" and inode.mtime_ns == 6_000
    inode.truncate(4)
    assert inode.read(0, 10) == b"\0" * 4
    raises(errno.EINVAL, inode.read, -1, 1)
    raises(errno.EINVAL, inode.write, -1, b"x")
    raises(errno.EINVAL, inode.truncate, -1)
    raises(errno.EINVAL, inode.readlink)
    raises(errno.EISDIR, fs.root.read, 0, 1)
    raises(errno.EINVAL, fs.lookup("/dev/null", fs.root).read, 0, 1)


def test_file_size_limit_gives_efbig() -> None:
    fs = FileSystem(max_file_size=16)
    inode = make_file(fs, "/f")
    raises(errno.EFBIG, inode.write, 10, b"x" * 7)
    raises(errno.EFBIG, inode.truncate, 17)
    assert inode.write(10, b"x" * 6) == 6
    # (one lseek+write far out holds one page: tests/test_sparse_files.py)


def test_stat(fs: FileSystem, clock: Clock) -> None:
    clock.now = 42
    inode = make_file(fs, "/tmp/s", b"x" * 5000)
    st = inode.stat()
    assert isinstance(st, StatResult)
    assert (st.st_ino, st.st_size, st.st_nlink, st.st_dev) == (inode.ino, 5000, 1, 1)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_blksize, st.st_blocks) == (4096, 16)
    assert st.st_atime_ns == st.st_mtime_ns == st.st_ctime_ns == 42
    null = fs.lookup("/dev/null", fs.root).stat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert fs.lookup("/tmp", fs.root).stat().st_nlink == 2
    assert fs.root.stat().st_nlink == 2 + len(
        [child for _, child in fs.root.entries() if child.is_dir()]
    )


# -- path resolution ----------------------------------------------------------------


def test_lookup_errors(fs: FileSystem) -> None:
    raises(errno.ENOENT, fs.lookup, "", fs.root)
    raises(errno.ENOENT, fs.lookup, "/nope", fs.root)
    raises(errno.ENOTDIR, fs.lookup, "/etc/passwd/x", fs.root)
    raises(errno.ENOTDIR, fs.lookup, "/etc/passwd/", fs.root)
    raises(errno.ENOTDIR, fs.lookup, "/etc/passwd/..", fs.root)
    raises(errno.ENAMETOOLONG, fs.lookup, "/" + "a" * (NAME_MAX + 1), fs.root)
    raises(errno.ENOENT, fs.lookup, "/" + "a" * NAME_MAX, fs.root)
    raises(errno.ENAMETOOLONG, fs.lookup, "a/" * (PATH_MAX // 2), fs.root)
    # Limits count bytes, not characters: a two-byte UTF-8 letter, and a byte that is
    # not UTF-8 (kept as a surrogate escape), in a name and in a whole path.
    wide = "\u00e9" * (NAME_MAX // 2 + 1)
    raises(errno.ENAMETOOLONG, fs.lookup, "/" + wide, fs.root)
    raises(errno.ENOENT, fs.lookup, "/" + wide[1:], fs.root)
    raises(errno.ENAMETOOLONG, fs.lookup, "/" + "\udcff" * (NAME_MAX + 1), fs.root)
    raises(errno.ENAMETOOLONG, fs.lookup, (wide[:100] + "/") * (PATH_MAX // 150), fs.root)
    assert fs.lookup("/etc//passwd", fs.root) is fs.lookup("/etc/./passwd", fs.root)


def test_dotdot_at_root_stays_at_root(fs: FileSystem) -> None:
    etc = fs.lookup("/etc", fs.root)
    assert fs.lookup("/../../..", fs.root) is fs.root
    assert fs.lookup("../../etc", fs.root) is etc
    assert fs.lookup("../../../etc/..", etc) is fs.root
    assert fs.lookup("..", fs.root) is fs.root


def test_symlinks(fs: FileSystem) -> None:
    etc = fs.lookup("/etc", fs.root)
    passwd = fs.lookup("/etc/passwd", fs.root)
    fs.symlink(fs.root, "abs", "/etc/passwd")
    fs.symlink(etc, "rel", "passwd")
    fs.symlink(fs.root, "etclink", "etc")
    fs.symlink(fs.root, "dangling", "/nowhere")
    assert fs.lookup("/abs", fs.root) is passwd
    assert fs.lookup("/etc/rel", fs.root) is passwd
    assert fs.lookup("/etclink/passwd", fs.root, follow=False) is passwd  # intermediate
    assert fs.lookup("/abs", fs.root, follow=False).readlink() == "/etc/passwd"
    assert fs.lookup("/etclink/", fs.root, follow=False) is etc  # trailing slash follows
    assert fs.lookup("/etclink/..", fs.root) is fs.root
    raises(errno.ENOENT, fs.lookup, "/dangling", fs.root)
    assert fs.lookup("/dangling", fs.root, follow=False).is_symlink()
    raises(errno.ENOTDIR, fs.lookup, "/abs/x", fs.root)


def test_symlink_loops_end_in_eloop(fs: FileSystem) -> None:
    fs.symlink(fs.root, "self", "self")
    fs.symlink(fs.root, "ping", "/pong")
    fs.symlink(fs.root, "pong", "ping/x")
    for path in ("/self", "/ping", "/pong/a/b", "/self/"):
        raises(errno.ELOOP, fs.lookup, path, fs.root)
    assert fs.lookup("/self", fs.root, follow=False).is_symlink()


def test_at_most_forty_symlinks(fs: FileSystem) -> None:
    make_file(fs, "/target")
    fs.symlink(fs.root, "l0", "target")
    for i in range(1, MAXSYMLINKS + 1):
        fs.symlink(fs.root, f"l{i}", f"l{i - 1}")
    assert fs.lookup(f"/l{MAXSYMLINKS - 1}", fs.root).is_reg()  # 40 links followed
    raises(errno.ELOOP, fs.lookup, f"/l{MAXSYMLINKS}", fs.root)


def test_lookup_parent(fs: FileSystem) -> None:
    etc = fs.lookup("/etc", fs.root)
    assert fs.lookup_parent("/etc/passwd", fs.root) == (etc, "passwd")
    assert fs.lookup_parent("/etc/new/", fs.root) == (etc, "new")
    assert fs.lookup_parent("passwd", etc) == (etc, "passwd")
    assert fs.lookup_parent("/", fs.root) == (fs.root, "/")
    assert fs.lookup_parent("/etc/.", fs.root) == (etc, ".")
    assert fs.lookup_parent("/etc/..", fs.root) == (etc, "..")
    raises(errno.ENOTDIR, fs.lookup_parent, "/etc/passwd/", fs.root)
    raises(errno.ENOTDIR, fs.lookup_parent, "/etc/passwd/x", fs.root)
    raises(errno.ENOENT, fs.lookup_parent, "/nope/x", fs.root)
    raises(errno.ENOENT, fs.lookup_parent, "", fs.root)


# -- open ---------------------------------------------------------------------------


def test_open_create_and_exclusive(fs: FileSystem) -> None:
    tmp = fs.lookup("/tmp", fs.root)
    new = fs.open("new", tmp, os.O_CREAT | os.O_RDWR, 0o666, umask=0o027)
    assert new.is_reg() and stat.S_IMODE(new.mode) == 0o640
    assert fs.open("/tmp/new", fs.root, os.O_CREAT | os.O_RDWR, 0o600) is new
    raises(errno.EEXIST, fs.open, "/tmp/new", fs.root, os.O_CREAT | os.O_EXCL, 0o600)
    raises(errno.ENOENT, fs.open, "/tmp/missing", fs.root, os.O_RDONLY, 0)
    raises(errno.ENOENT, fs.open, "/nodir/f", fs.root, os.O_CREAT, 0o644)
    raises(errno.ENOTDIR, fs.open, "/etc/passwd/f", fs.root, os.O_CREAT, 0o644)
    raises(errno.ENOENT, fs.open, "", fs.root, os.O_RDONLY, 0)
    raises(errno.EISDIR, fs.open, "/tmp/newdir/", fs.root, os.O_CREAT, 0o644)
    raises(errno.EISDIR, fs.open, "/", fs.root, os.O_CREAT, 0o644)
    raises(errno.EEXIST, fs.open, "/", fs.root, os.O_CREAT | os.O_EXCL, 0o644)
    raises(errno.EISDIR, fs.open, "/tmp", fs.root, os.O_CREAT, 0o644)
    raises(errno.EINVAL, fs.open, "/tmp/d", fs.root, os.O_CREAT | os.O_DIRECTORY, 0o644)
    raises(errno.ENAMETOOLONG, fs.open, "/tmp/" + "n" * 256, fs.root, os.O_CREAT, 0o644)


def test_open_final_symlink(fs: FileSystem) -> None:
    tmp = fs.lookup("/tmp", fs.root)
    fs.symlink(tmp, "to-passwd", "/etc/passwd")
    fs.symlink(tmp, "dangling", "created-through-link")
    passwd = fs.lookup("/etc/passwd", fs.root)
    assert fs.open("/tmp/to-passwd", fs.root, os.O_RDONLY, 0) is passwd
    raises(errno.ELOOP, fs.open, "/tmp/to-passwd", fs.root, os.O_NOFOLLOW, 0)
    raises(errno.ELOOP, fs.open, "/tmp/to-passwd", fs.root, os.O_CREAT | os.O_NOFOLLOW, 0)
    raises(errno.EEXIST, fs.open, "/tmp/dangling", fs.root, os.O_CREAT | os.O_EXCL, 0o644)
    raises(errno.ENOENT, fs.lookup, "/tmp/created-through-link", fs.root)  # EXCL: not followed
    created = fs.open("/tmp/dangling", fs.root, os.O_CREAT | os.O_WRONLY, 0o644)
    assert fs.lookup("/tmp/created-through-link", fs.root) is created
    link = fs.open("/tmp/to-passwd", fs.root, os.O_PATH | os.O_NOFOLLOW, 0)
    assert link.is_symlink()


def test_open_directory_and_truncate(fs: FileSystem) -> None:
    raises(errno.ENOTDIR, fs.open, "/etc/passwd", fs.root, os.O_DIRECTORY, 0)
    assert fs.open("/etc", fs.root, os.O_RDONLY | os.O_DIRECTORY, 0).is_dir()
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
        raises(errno.EISDIR, fs.open, "/etc", fs.root, flags, 0)
    passwd = fs.lookup("/etc/passwd", fs.root)
    # Linux truncates a regular file opened O_RDONLY|O_TRUNC (checked natively).
    assert fs.open("/etc/passwd", fs.root, os.O_RDONLY | os.O_TRUNC, 0).size == 0
    fs.open("/etc/passwd", fs.root, os.O_WRONLY | os.O_TRUNC, 0)
    assert passwd.size == 0


def test_create_in_removed_directory(fs: FileSystem) -> None:
    gone = fs.mkdir(fs.root, "gone", 0o755)
    fs.rmdir(fs.root, "gone")
    raises(errno.ENOENT, fs.open, "x", gone, os.O_CREAT, 0o644)
    raises(errno.ENOENT, fs.mkdir, gone, "x", 0o755)
    raises(errno.ENOENT, fs.path_of, gone)
    assert fs.lookup("..", gone) is fs.root


# -- directory operations ---------------------------------------------------------


def test_mkdir_mknod_symlink(fs: FileSystem) -> None:
    home = fs.lookup("/home", fs.root)
    user = fs.mkdir(home, "user", 0o4755)
    assert stat.S_IMODE(user.mode) == 0o755 and home.nlink == 3 and user.parent is home
    for name in ("user", ".", "..", "/"):
        raises(errno.EEXIST, fs.mkdir, home, name, 0o755)
    raises(errno.ENOTDIR, fs.mkdir, fs.lookup("/etc/passwd", fs.root), "x", 0o755)
    fifo = fs.mknod(user, "fifo", stat.S_IFIFO | 0o600)
    assert stat.S_ISFIFO(fifo.mode) and fifo.rdev == 0
    tty = fs.mknod(user, "tty", stat.S_IFCHR | 0o620, os.makedev(5, 0))
    assert tty.is_chr() and tty.rdev == os.makedev(5, 0)
    assert fs.mknod(user, "plain", 0o600).is_reg()
    raises(errno.EPERM, fs.mknod, user, "blk", stat.S_IFBLK | 0o600, os.makedev(8, 0))
    raises(errno.EPERM, fs.mknod, user, "dir", stat.S_IFDIR | 0o755)
    raises(errno.EEXIST, fs.mknod, user, "fifo", stat.S_IFIFO | 0o600)
    link = fs.symlink(user, "link", "../../etc")
    assert link.readlink() == "../../etc" and link.size == len("../../etc")
    raises(errno.ENOENT, fs.symlink, user, "empty", "")
    raises(errno.EEXIST, fs.symlink, user, "link", "x")
    assert [name for name, _ in user.entries()] == ["fifo", "tty", "plain", "link"]


def test_link_and_unlink(fs: FileSystem) -> None:
    tmp = fs.lookup("/tmp", fs.root)
    inode = make_file(fs, "/tmp/a", b"data")
    fs.link(inode, tmp, "b")
    assert inode.nlink == 2 and fs.lookup("/tmp/b", fs.root) is inode
    raises(errno.EPERM, fs.link, fs.lookup("/etc", fs.root), tmp, "dirlink")
    raises(errno.EEXIST, fs.link, inode, tmp, "b")
    fs.unlink(tmp, "a")
    assert inode.nlink == 1 and inode.read(0, 4) == b"data"
    fs.unlink(tmp, "b")
    assert inode.nlink == 0
    raises(errno.ENOENT, fs.link, inode, tmp, "again")
    raises(errno.ENOENT, fs.unlink, tmp, "a")
    raises(errno.EISDIR, fs.unlink, fs.root, "tmp")
    raises(errno.EISDIR, fs.unlink, fs.root, ".")
    raises(errno.ENOTDIR, fs.unlink, inode, "x")


def test_rmdir(fs: FileSystem) -> None:
    raises(errno.ENOTEMPTY, fs.rmdir, fs.root, "etc")
    raises(errno.ENOTDIR, fs.rmdir, fs.lookup("/etc", fs.root), "passwd")
    raises(errno.ENOENT, fs.rmdir, fs.root, "nope")
    raises(errno.EBUSY, fs.rmdir, *fs.lookup_parent("/", fs.root))
    raises(errno.EINVAL, fs.rmdir, *fs.lookup_parent("/tmp/.", fs.root))
    raises(errno.ENOTEMPTY, fs.rmdir, *fs.lookup_parent("/tmp/..", fs.root))
    fs.symlink(fs.root, "tmplink", "tmp")
    raises(errno.ENOTDIR, fs.rmdir, fs.root, "tmplink")
    nlink = fs.root.nlink
    home = fs.lookup("/home", fs.root)
    fs.rmdir(*fs.lookup_parent("/home/", fs.root))
    assert fs.root.nlink == nlink - 1 and home.nlink == 0
    raises(errno.ENOENT, fs.lookup, "/home", fs.root)


def test_path_of(fs: FileSystem) -> None:
    a = fs.mkdir(fs.lookup("/tmp", fs.root), "a", 0o755)
    b = fs.mkdir(a, "b", 0o755)
    assert fs.path_of(b) == "/tmp/a/b"
    raises(errno.ENOTDIR, fs.path_of, fs.lookup("/etc/passwd", fs.root))


# -- rename -------------------------------------------------------------------------


def test_rename_files(fs: FileSystem) -> None:
    tmp = fs.lookup("/tmp", fs.root)
    a, b = make_file(fs, "/tmp/a", b"A"), make_file(fs, "/tmp/b", b"B")
    fs.rename(tmp, "a", tmp, "b")
    assert fs.lookup("/tmp/b", fs.root) is a and b.nlink == 0
    raises(errno.ENOENT, fs.lookup, "/tmp/a", fs.root)
    raises(errno.ENOENT, fs.rename, tmp, "a", tmp, "c")
    fs.rename(tmp, "b", fs.root, "moved")
    assert fs.lookup("/moved", fs.root).read(0, 1) == b"A"
    fs.link(a, tmp, "alias")
    fs.rename(fs.root, "moved", tmp, "alias")  # two names of one inode: no-op
    assert fs.lookup("/moved", fs.root) is fs.lookup("/tmp/alias", fs.root) is a
    fs.rename(tmp, "alias", tmp, "alias")
    assert a.nlink == 2
    raises(errno.EISDIR, fs.rename, fs.root, "moved", fs.root, "tmp")
    raises(errno.EBUSY, fs.rename, fs.root, ".", fs.root, "x")
    raises(errno.EBUSY, fs.rename, fs.root, "moved", *fs.lookup_parent("/", fs.root))


def test_rename_directories(fs: FileSystem) -> None:
    tmp, home = fs.lookup("/tmp", fs.root), fs.lookup("/home", fs.root)
    d = fs.mkdir(tmp, "d", 0o755)
    sub = fs.mkdir(d, "sub", 0o755)
    make_file(fs, "/tmp/file")
    raises(errno.EINVAL, fs.rename, tmp, "d", d, "x")
    raises(errno.EINVAL, fs.rename, tmp, "d", sub, "x")
    raises(errno.ENOTDIR, fs.rename, tmp, "d", tmp, "file")
    raises(errno.ENOTEMPTY, fs.rename, tmp, "d", fs.root, "etc")
    empty = fs.mkdir(home, "empty", 0o755)
    tmp_links, home_links = tmp.nlink, home.nlink
    fs.rename(tmp, "d", home, "empty")
    assert empty.nlink == 0 and d.parent is home
    assert (tmp.nlink, home.nlink) == (tmp_links - 1, home_links)
    assert fs.path_of(sub) == "/home/empty/sub"
    assert fs.lookup("../..", sub) is home


# -- populate_defaults --------------------------------------------------------------


def test_populate_defaults(fs: FileSystem) -> None:
    def mode(path: str) -> int:
        return fs.lookup(path, fs.root).mode

    assert mode("/tmp") == stat.S_IFDIR | 0o1777
    assert mode("/dev/shm") == stat.S_IFDIR | 0o1777
    assert mode("/root") == stat.S_IFDIR | 0o700
    assert stat.S_ISDIR(mode("/home"))
    devices = {
        "null": (1, 3),
        "zero": (1, 5),
        "full": (1, 7),
        "random": (1, 8),
        "urandom": (1, 9),
        "tty": (5, 0),
    }
    for name, (major, minor) in devices.items():
        inode = fs.lookup(f"/dev/{name}", fs.root)
        assert inode.is_chr() and inode.rdev == os.makedev(major, minor)
    passwd = fs.lookup("/etc/passwd", fs.root).read(0, 4096)
    assert passwd.startswith(b"root:x:0:0:root:/root:/bin/sh\n")
    assert b"\nnobody:x:65534:65534:" in passwd
    assert fs.lookup("/etc/hostname", fs.root).read(0, 100) == b"coffer\n"
    assert fs.lookup("/etc/group", fs.root).size > 0
    before = (fs.sb.next_ino, [name for name, _ in fs.root.entries()])
    fs.populate_defaults()
    assert (fs.sb.next_ino, [name for name, _ in fs.root.entries()]) == before


def test_populate_defaults_keeps_existing(clock: Clock) -> None:
    fs = FileSystem(now_ns=clock)
    etc = fs.mkdir(fs.root, "etc", 0o700)
    make_file(fs, "/etc/passwd", COFFER_PASSWD)
    fs.symlink(fs.root, "tmp", "/var/tmp")
    fs.populate_defaults()
    assert etc.mode == stat.S_IFDIR | 0o700
    assert fs.lookup("/etc/passwd", fs.root).read(0, 100) == COFFER_PASSWD
    assert fs.lookup("/etc/hostname", fs.root).read(0, 100) == b"coffer\n"
    assert fs.lookup("/tmp", fs.root, follow=False).readlink() == "/var/tmp"
