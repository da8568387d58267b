"""The filesystem of one coffer: a tree of in-memory inodes with Linux's rules.

A :class:`FileSystem` is kernel state, so it lives in an object, one per coffer,
and nothing is shared between two of them. It starts empty
(:class:`FileSystem`) or as a lazy copy-on-write view of a host directory
(:meth:`FileSystem.from_host`, see :mod:`cofferos.coffers.fs.hostimport`), or as
a container image's merged layers (:mod:`cofferos.coffers.fs.image`);
:meth:`populate_defaults` adds the few files every Linux program expects.

The methods are the filesystem half of the file system calls, with their errno:

* by path, using :mod:`cofferos.coffers.fs.namei`: :meth:`lookup`,
  :meth:`lookup_parent`, :meth:`open`;
* by directory and name, after ``lookup_parent``: :meth:`mkdir`, :meth:`mknod`,
  :meth:`symlink`, :meth:`link`, :meth:`unlink`, :meth:`rmdir`, :meth:`rename`
  (inherited from :class:`cofferos.coffers.fs.dirops.DirectoryOps`);
* :meth:`mount` attaches another filesystem's root (/proc) over a directory;
  :attr:`FileSystem.mounts` records those mount(2) made (the mount tree itself is
  :mod:`cofferos.coffers.syscalls.namespace`'s, as fs/namespace.c's in Linux).

``lookup_parent`` returns ``(directory, last name)`` without looking the name up.
For paths whose last component is not an ordinary name it returns the name as
written, "." or "..", and for "/" itself (the root) the name "/"; the directory
methods answer these as Linux does: mkdir, mknod, symlink and link EEXIST,
unlink EISDIR, rmdir EBUSY ("/"), EINVAL (".") or ENOTEMPTY (".."), rename EBUSY.

Every method that takes ``cred`` (the caller's credentials, see
:mod:`.permission`) checks permissions as Linux does: search permission on each
directory of the path, write and search permission on a directory an entry is
added to or removed from, the sticky bit, read and write permission at open; a
new inode belongs to the caller's filesystem uid and gid (or a setgid
directory's gid). ``cred=None`` is the kernel's own access: unchecked, and new
inodes belong to root. The umask is the caller's to apply. Open file
descriptions, offsets and devices live above, in :mod:`cofferos.coffers`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import defaults
from .dirops import DirectoryOps
from .errors import FsError
from .hostimport import HostTree
from .imagetree import ImageMount, ImageTree
from .inode import DEFAULT_MAX_FILE_SIZE, FILE_TYPE_BITS, PERMISSION_BITS, Inode, Superblock
from .mnt_ns import MountNamespace
from .namei import (
    ROOT_NAME,
    SPECIAL_NAMES,
    Nameidata,
    PrefixCache,
    split_path,
)
from .permission import (
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    FsCred,
    inode_owner_or_capable,
    inode_permission,
    may_lookup,
)
from .tmpfs import TmpfsOptions

ROOT_DIR_MODE = 0o755
"""Permissions of an empty filesystem's root."""
O_NOATIME = 0o1000000
"""open(2) flag (asm-generic/fcntl.h) only the owner or CAP_FOWNER may pass."""
ACC_MODE = {os.O_RDONLY: MAY_READ, os.O_WRONLY: MAY_WRITE, os.O_RDWR: MAY_READ | MAY_WRITE,
            os.O_ACCMODE: MAY_READ | MAY_WRITE}
"""The rights each O_ACCMODE value asks for (ACC_MODE in include/linux/fs.h)."""


# The mount flags the filesystem's checks read (include/uapi/linux/mount.h); the rest
# of mount(2)'s flags are cofferos.coffers.syscalls.namespace's.
MS_RDONLY = 1  #: writes are EROFS
MS_NOSUID = 2  #: execve ignores set-user-ID and set-group-ID bits
MS_NODEV = 4  #: devices cannot be opened (EACCES)
MS_NOEXEC = 8  #: files cannot be executed (EACCES) or mapped executable (EPERM)


def _zero_clock() -> int:
    return 0


@dataclass(eq=False)
class Mount:
    """A filesystem mount(2) attached (Linux's struct mount): in its namespace
    (:mod:`.mnt_ns`) the path walk finds ``root`` where ``covered``, entry ``name`` of
    ``parent``, is, until it is unmounted."""

    root: Inode
    covered: Inode
    parent: Inode
    name: str
    options: str
    """What /proc/mounts shows: the mount's and the filesystem's options."""
    expiry_mark: bool = False  #: umount2(MNT_EXPIRE) asked once already
    flags: int = 0
    """The mount's own MS_* flags (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, atime)."""
    sb_flags: int = 0
    """Its filesystem's MS_* flags (MS_RDONLY, MS_SYNCHRONOUS, MS_DIRSYNC, MS_LAZYTIME)."""
    mnt_id: int = 0
    """The mount's number in /proc/self/mountinfo."""
    source: str = "none"
    """The device name mount(2) was given (``none`` for NULL), shown first in /proc/mounts."""
    tmpfs: TmpfsOptions | None = None
    """The filesystem's own options (size=, mode= ...), see :mod:`.tmpfs`."""
    sb_userns: Any = None
    """The user namespace that owns its filesystem (``sb->s_user_ns``: the mounter's;
    None: the coffer's initial one), whose CAP_SYS_ADMIN a remount of it needs."""
    locked: bool = False
    """MNT_LOCKED and MNT_LOCK_ATIME: copied into a mount namespace of a less
    privileged user namespace, it cannot be unmounted nor its atime mode changed."""
    locked_flags: int = 0
    """MNT_LOCK_READONLY, _NOSUID, _NODEV, _NOEXEC as the MS_* bits that stay set."""
    bind: bool = False
    """Made by a bind mount (MS_BIND): ``root`` is a directory or file of a filesystem
    already mounted, whose read-only flag is the mount's alone."""
    fstype: str = "tmpfs"
    """The filesystem's type /proc/mounts shows."""
    fs_root: str = "/"
    """Where ``root`` is within its filesystem (mountinfo's fourth field)."""
    fs_options: str = ""
    """Another filesystem's own options for /proc/mounts (devpts's), after its flags."""


class FileSystem(DirectoryOps):
    """One coffer's filesystem; see the module docstring."""

    def __init__(
        self,
        now_ns: Callable[[], int] = _zero_clock,
        dev: int = 1,
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        host_root: str | None = None,
        image: ImageTree | None = None,
    ) -> None:
        self.sb = Superblock(dev=dev, now_ns=now_ns, max_file_size=max_file_size)
        if host_root is not None:
            self.root = HostTree(host_root, self.sb).import_root()
        elif image is not None:  # a container image's merged layers (see .image)
            self.root = ImageMount(image, self.sb).import_root()
        else:
            self.root = self.sb.new_inode(stat.S_IFDIR | ROOT_DIR_MODE)
            self.root.parent = self.root
        self.init_ns = MountNamespace()
        """The coffer's first mount namespace (:mod:`.mnt_ns`)."""
        self.ns = self.init_ns
        """The mount namespace paths are walked in: the running task's (the scheduler
        switches it with the task, as Linux's ``current->nsproxy->mnt_ns``)."""
        self.prefixes = PrefixCache()
        """The directories absolute path prefixes lead to (:class:`.namei.PrefixCache`)."""
        self.walked: Mount | None = None
        """The mount the last :meth:`lookup` ended in, if it crossed one."""
        self.walked_inode: Inode | None = None
        """What the last :meth:`lookup` found."""
        self._ro_parents: list[Inode] = []
        """Directories :meth:`lookup_parent` last reached through a read-only mount
        whose filesystem is writable (a read-only bind mount): changes in them are EROFS."""
        self.dir_event: Callable[[Inode, int], None] | None = None
        """Told of each name made, removed or moved in a directory, once a directory
        is watched (:mod:`cofferos.coffers.dnotify`): (directory, DN_ event bit)."""

    @classmethod
    def from_host(
        cls,
        host_root: str,
        now_ns: Callable[[], int] = _zero_clock,
        dev: int = 1,
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    ) -> FileSystem:
        """A copy-on-write view of the host directory ``host_root``; the host never
        changes. FileNotFoundError or NotADirectoryError if it is not a directory."""
        return cls(now_ns, dev, max_file_size=max_file_size, host_root=host_root)

    @property
    def mounts(self) -> list[Mount]:
        """The mount table of mount(2) in the current namespace, oldest first."""
        return self.ns.mounts

    @property
    def user_ns(self) -> Any:
        """The user namespace owning the current mount namespace (None: the coffer's
        initial one): CAP_SYS_ADMIN there lets a process mount (may_mount)."""
        return self.ns.user_ns

    def populate_defaults(self) -> None:
        """Add /tmp, /dev, /etc and the rest where missing; see :mod:`.defaults`."""
        defaults.populate(self)

    def mount(self, path: str, root: Inode) -> None:
        """Attach ``root``, the root of another filesystem (a :class:`Superblock` of
        its own, such as /proc's), at the directory ``path``, made if missing.

        A directory already there is covered, not removed: it stays as it was,
        out of sight. A mount root cannot be removed or renamed (EBUSY), and
        nothing is linked or renamed across filesystems (EXDEV), as in Linux.
        """
        parent, name = self.lookup_parent(path, self.root)
        covered = parent.child(name)
        if covered is not None:
            if not covered.is_dir():
                raise FsError(errno.ENOTDIR, path)
            parent.remove_entry(name)
        parent.add_entry(name, root)

    # -- by path -----------------------------------------------------------------

    def lookup(self, path: str, cwd: Inode, follow: bool = True,
               cred: FsCred | None = None) -> Inode:
        """The inode at ``path``; ``follow`` follows a symlink in the last component."""
        nd = Nameidata(self.root, cred, self.ns)
        inode = nd.walk_path(path, cwd, self.prefixes, follow)
        crossed = nd.crossed
        self.walked = crossed[-1] if crossed else None
        self.walked_inode = inode
        return inode

    def lookup_parent(self, path: str, cwd: Inode,
                      cred: FsCred | None = None) -> tuple[Inode, str]:
        """The directory that holds the last component of ``path``, and that name.

        The name is not looked up, except that with a trailing slash an existing
        entry that is not a directory (a symlink included) gives ENOTDIR. See the
        module docstring for "/", "." and "..". Since the trailing slash is not
        returned, two rare cases differ from Linux: mkdir("symlink/") gives ENOTDIR
        (Linux: EEXIST) and mknod/symlink/link to "new/" create "new" (Linux: ENOENT).
        """
        nd = Nameidata(self.root, cred, self.ns)
        known = self.prefixes.parent(nd, path)
        if known is not None:
            (parent, name), trailing = known, False
        else:
            absolute, components, trailing = split_path(path)
            if not components:
                return self.root, ROOT_NAME
            parent = nd.walk(nd.start(absolute, cwd), components[:-1], follow_last=True,
                             absolute=absolute)
            if absolute:
                self.prefixes.remember(nd, path, components)
            name = components[-1]
        if not parent.is_dir():
            raise FsError(errno.ENOTDIR, path)
        may_lookup(parent, cred, name)
        if nd.crossed or self._ro_parents:
            self._note_ro_parent(parent, nd.mnt)
        if trailing and name not in SPECIAL_NAMES:
            existing = parent.child(name)
            if existing is not None and not existing.is_dir():
                raise FsError(errno.ENOTDIR, path)
        return parent, name

    def _note_ro_parent(self, parent: Inode, mnt: Mount | None) -> None:
        ro = self._ro_parents
        if mnt is not None and mnt.flags & MS_RDONLY and not parent.sb.read_only:
            ro.append(parent)
            del ro[:-2]  # (rename looks up two parents)
        elif ro and parent in ro:
            ro.remove(parent)

    def want_write(self, inode: Inode) -> None:
        """EROFS if the last :meth:`lookup` found ``inode`` through a read-only bind
        mount (mnt_want_write on its path's mount, for chmod, chown, utimes, xattrs
        and access(W_OK); a read-only filesystem is :func:`.permission.mnt_want_write`'s)."""
        walked = self.walked
        if walked is not None and walked.bind and walked.flags & MS_RDONLY \
                and self.walked_inode is inode:
            raise FsError(errno.EROFS, "a read-only mount")

    def _want_write(self, parent: Inode) -> None:
        """EROFS for a change in a directory reached through a read-only bind mount
        (mnt_want_write on the parent's mount; a read-only filesystem is EROFS in
        the permission check)."""
        if self._ro_parents and parent in self._ro_parents:
            raise FsError(errno.EROFS, "a read-only mount")

    def open(self, path: str, cwd: Inode, flags: int, mode: int, umask: int = 0o022,
             cred: FsCred | None = None) -> Inode:
        """The inode open(2) opens, creating or truncating it as ``flags`` ask.

        This applies namei's rules and errno, and with ``cred`` may_open's access
        checks. Imported host FIFOs, sockets and devices cannot be opened (EACCES).
        """
        nd = Nameidata(self.root, cred, self.ns)
        if flags & os.O_PATH:
            inode = self.lookup(path, cwd, follow=not flags & os.O_NOFOLLOW, cred=cred)
            if flags & os.O_DIRECTORY and not inode.is_dir():
                raise FsError(errno.ENOTDIR, path)
            return inode
        if flags & os.O_CREAT:
            if flags & os.O_DIRECTORY:
                raise FsError(errno.EINVAL, "O_CREAT with O_DIRECTORY")
            inode, created = self._open_create(nd, path, cwd, flags, mode & ~umask)
            if created:
                return inode  # a new, empty regular file: nothing else to check
        else:
            inode = nd.walk_path(path, cwd, self.prefixes, not flags & os.O_NOFOLLOW)
        crossed = nd.crossed
        ro_mount = bool(crossed and crossed[-1].flags & MS_RDONLY) and inode.is_reg()
        return self._may_open(inode, flags, path, cred, ro_mount)

    def _open_create(
        self, nd: Nameidata, path: str, cwd: Inode, flags: int, mode: int
    ) -> tuple[Inode, bool]:
        """The inode O_CREAT opens, and whether it was created just now.

        A final symlink is followed (and a dangling one creates its target) unless
        O_EXCL or O_NOFOLLOW; a trailing slash gives EISDIR; "/", "." and ".."
        are directories that exist (EEXIST with O_EXCL, else EISDIR), as in Linux.
        """
        known = self.prefixes.parent(nd, path)
        if known is not None:  # (the parent itself, the walk of no components skipped:
            # the cache answers only when no lock records are wanted)
            start, components, trailing, first = known[0], [known[1]], False, False
            parent = start
        else:
            absolute, components, trailing = split_path(path)
            start, first = nd.start(absolute, cwd), absolute
        while True:
            if not components:
                raise FsError(errno.EEXIST if flags & os.O_EXCL else errno.EISDIR, path)
            if known is None:
                parent = nd.walk(start, components[:-1], follow_last=True, absolute=first)
            known = None  # (a symlink's target below is walked)
            if first:  # (the path's own walk, not a symlink's target)
                self.prefixes.remember(nd, path, components)
                first = False
            if not parent.is_dir():
                raise FsError(errno.ENOTDIR, path)
            name = components[-1]
            may_lookup(parent, nd.cred, name)
            if nd.crossed or self._ro_parents:
                self._note_ro_parent(parent, nd.mnt)
            if name in SPECIAL_NAMES:
                raise FsError(errno.EEXIST if flags & os.O_EXCL else errno.EISDIR, path)
            if trailing:
                raise FsError(errno.EISDIR, path)
            existing = parent.child(name)
            if existing is None:
                if self._ro_parents:
                    self._want_write(parent)
                mode = stat.S_IFREG | mode & PERMISSION_BITS
                return self._new_entry(parent, name, mode, cred=nd.cred), True
            if flags & os.O_EXCL:
                raise FsError(errno.EEXIST, path)
            if not existing.is_symlink():
                if existing.is_dir():
                    raise FsError(errno.EISDIR, path)
                return existing, False
            if flags & os.O_NOFOLLOW:
                raise FsError(errno.ELOOP, path)
            jumped = nd.jump(existing)  # a magic link names its inode directly
            if jumped is not None:
                if jumped.is_dir():
                    raise FsError(errno.EISDIR, path)
                return jumped, False
            absolute, components, trailing = nd.follow(existing)
            start = nd.start(absolute, parent)

    def mount_of(self, inode: Inode) -> Mount | None:
        """The mount(2) mount ``inode``'s tmpfs is attached by in the current
        namespace (the first: a bind mount of it comes later), or None for the coffer's
        root filesystem and /proc."""
        sb = inode.sb
        if not sb.tmpfs:
            return None
        return next((m for m in self.mounts if m.root.sb is sb), None)

    def mount_flag(self, inode: Inode, flag: int) -> bool:
        """Whether the mount ``inode`` is reached by has the MS_* ``flag``."""
        mnt = self.mount_of(inode)
        return mnt is not None and bool(mnt.flags & flag)

    def _may_open(self, inode: Inode, flags: int, path: str, cred: FsCred | None,
                  ro_mount: bool = False) -> Inode:
        """The checks open(2) makes on the inode it found (may_open and do_open):
        a device on a nodev mount is EACCES, O_TRUNC asks for write permission too,
        O_NOATIME for ownership (EPERM); through a read-only bind mount (``ro_mount``)
        O_TRUNC is EROFS first (do_open's mnt_want_write) and a write open last
        (do_dentry_open's)."""
        if ro_mount and flags & os.O_TRUNC:
            raise FsError(errno.EROFS, f"{path}: a read-only mount")
        acc_mode = ACC_MODE[flags & os.O_ACCMODE] | (MAY_WRITE if flags & os.O_TRUNC else 0)
        kind = inode.mode & FILE_TYPE_BITS  # (the type tested in place: a call fewer each)
        if flags & os.O_DIRECTORY and kind != stat.S_IFDIR:
            raise FsError(errno.ENOTDIR, path)
        if kind == stat.S_IFLNK:
            raise FsError(errno.ELOOP, path)  # only reached with O_NOFOLLOW
        if kind == stat.S_IFDIR and acc_mode & MAY_WRITE:
            raise FsError(errno.EISDIR, path)
        if inode.opaque:
            raise FsError(errno.EACCES, path)
        if (kind == stat.S_IFCHR or kind == stat.S_IFBLK) and self.mount_flag(inode, MS_NODEV):
            raise FsError(errno.EACCES, f"{path}: a device on a nodev mount")
        inode_permission(inode, cred, MAY_OPEN | acc_mode, path)
        if flags & O_NOATIME and not inode_owner_or_capable(inode, cred):
            raise FsError(errno.EPERM, "O_NOATIME on a file of another owner")
        if ro_mount and flags & os.O_ACCMODE != os.O_RDONLY:
            raise FsError(errno.EROFS, f"{path}: a read-only mount")
        if kind == stat.S_IFREG and flags & os.O_TRUNC:  # Linux truncates even O_RDONLY
            inode.truncate(0)
        return inode.open_instance()  # a synthetic file: a snapshot of its contents

    def path_of(self, inode: Inode, ns: MountNamespace | None = None) -> str:
        """The absolute path of a directory, for getcwd; ENOENT once it was removed.
        A mount's root is named by where it is mounted in ``ns`` (the current one)."""
        mounts = (ns or self.ns).mounts
        if not inode.is_dir():
            raise FsError(errno.ENOTDIR)
        names: list[str] = []
        current = inode
        while current is not self.root:
            parent = current.parent
            if current.nlink == 0 or parent is None:
                raise FsError(errno.ENOENT, "directory was removed")
            name = next((name for name, child in parent.entries() if child is current), None)
            if name is None:  # covered by a mount, or a detached mount's root
                name = next((m.name for m in mounts if m.parent is parent
                             and current in (m.covered, m.root)), None)
            if name is None:
                raise FsError(errno.ENOENT, "not reachable from the root")
            names.append(name)
            current = parent
        return "/" + "/".join(reversed(names))
