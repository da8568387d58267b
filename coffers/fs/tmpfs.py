"""A tmpfs's own options: size=, nr_blocks=, nr_inodes=, mode=, uid=, gid= (mm/shmem.c).

mount(2)'s ``data`` for a tmpfs is a comma-separated list of these, parsed as
``shmem_parse_one`` does; :func:`show` writes them back as ``shmem_show_options``
does for /proc/mounts. The mount's own flags (ro, nosuid, nodev, noexec, the atime
modes) are :mod:`cofferos.coffers.syscalls.namespace`'s.

* ``size=N[kmgtpe]`` or ``size=N%`` (of the coffer's RAM, its memory limit), and
  ``nr_blocks=N`` in pages: the bytes the tmpfs's files may hold, rounded up to
  whole pages; past it a write is ENOSPC. The coffer charges files by the byte, not
  by the page as tmpfs does, so many small files fit more than they would on Linux.
  Without either, the tmpfs has no limit of its own (Linux's default is half the
  RAM); it always draws on the coffer's disk quota as well.
* ``mode=`` (octal), ``uid=``, ``gid=``: the root directory's mode and owner.
* ``nr_inodes=``, ``huge=``, ``inode32``, ``inode64``, ``noswap``: accepted and shown
  (``nr_inodes``) but without effect: the model counts no inodes, has no huge
  pages and no swap.

Anything else is EINVAL, as tmpfs answers an unknown parameter or a bad value.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, replace
from typing import Any

from .errors import FsError

PAGE_SIZE = 4096
KIB = 1024
TMPFS_ROOT_MODE = 0o1777  #: shmem's default root mode, S_IRWXUGO | S_ISVTX
MODE_MASK = 0o7777  #: what mode= keeps (fsparam_u32oct & 07777)
ID_MAX = 0xFFFFFFFE  #: uid=/gid= must name a valid id ((uid_t)-1 is not one)
PERCENT = 100
#: memparse's suffixes: a power of 1024 each.
MEMPARSE_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(.*)", re.S)
IGNORED = frozenset({"huge", "inode32", "inode64", "noswap", "mpol"})


@dataclass(frozen=True)
class TmpfsOptions:
    """One tmpfs's options (``shmem_sb_info``'s limits and root attributes)."""

    blocks: int | None = None
    """Pages the files may hold (size= / nr_blocks=); None: no limit of its own."""
    nr_inodes: int | None = None
    mode: int = TMPFS_ROOT_MODE
    uid: int = 0
    gid: int = 0

    @property
    def size_bytes(self) -> int | None:
        return None if self.blocks is None else self.blocks * PAGE_SIZE


def _memparse(text: str) -> tuple[int, str]:
    """simple_strtoull with base 0, then an optional k/m/g/t/p/e suffix."""
    match = NUMBER.fullmatch(text)
    if match is None:
        raise FsError(errno.EINVAL, f"tmpfs: bad value {text!r}")
    digits, rest = match.groups()
    value = int(digits, 0) if not (digits.startswith("0") and digits[1:2].isdigit()) \
        else int(digits, 8)
    shift = MEMPARSE_SHIFT.get(rest[:1].lower())
    if shift is not None:
        value, rest = value << shift, rest[1:]
    return value, rest


def _number(key: str, text: str, base: int = 10) -> int:
    try:
        return int(text, base)
    except ValueError:
        raise FsError(errno.EINVAL, f"tmpfs: bad value for {key}") from None


def parse(data: str, ram_bytes: int, current: TmpfsOptions | None = None,
          fsuid: int = 0, fsgid: int = 0, userns: Any = None) -> TmpfsOptions:
    """The options ``data`` asks for: over ``current`` on a remount (only the limits
    change then, as shmem_reconfigure), from the defaults with the caller's ids as
    the owner on a new mount. ``uid=`` and ``gid=`` are ids of the caller's user
    namespace ``userns`` (None: the initial one), kept as kernel ids; one it does not
    map is EINVAL (shmem_parse_one's make_kuid)."""
    options = current or TmpfsOptions(uid=fsuid, gid=fsgid)
    remount = current is not None
    for item in filter(None, data.split(",")):
        key, has_value, value = item.partition("=")
        if key in IGNORED and (key in ("huge", "mpol")) == bool(has_value):
            continue
        if not has_value:
            raise FsError(errno.EINVAL, f"tmpfs: unknown parameter {key!r}")
        if key == "size":
            size, rest = _memparse(value)
            if rest == "%":
                size = size * ram_bytes // PERCENT
            elif rest:
                raise FsError(errno.EINVAL, f"tmpfs: bad value for size: {value!r}")
            options = replace(options, blocks=-(-size // PAGE_SIZE))
        elif key == "nr_blocks":
            blocks, rest = _memparse(value)
            if rest:
                raise FsError(errno.EINVAL, f"tmpfs: bad value for nr_blocks: {value!r}")
            options = replace(options, blocks=blocks)
        elif key == "nr_inodes":
            inodes, rest = _memparse(value)
            if rest:
                raise FsError(errno.EINVAL, f"tmpfs: bad value for nr_inodes: {value!r}")
            options = replace(options, nr_inodes=inodes)
        elif key == "mode":
            mode = _number(key, value, 8) & MODE_MASK
            options = options if remount else replace(options, mode=mode)
        elif key in ("uid", "gid"):
            ident = _number(key, value)
            if not 0 <= ident <= ID_MAX:
                raise FsError(errno.EINVAL, f"tmpfs: invalid {key}")
            if userns is not None:
                from cofferos.coffers.userns import GID_MAP, INVALID_ID, UID_MAP, make_kid

                ident = make_kid(userns, UID_MAP if key == "uid" else GID_MAP, ident)
                if ident == INVALID_ID:
                    raise FsError(errno.EINVAL, f"tmpfs: {key} not mapped")
            options = options if remount else replace(options, **{key: ident})
        else:
            raise FsError(errno.EINVAL, f"tmpfs: unknown parameter {key!r}")
    return options


def show(options: TmpfsOptions) -> str:
    """The options after the mount flags in /proc/mounts (shmem_show_options)."""
    shown = []
    if options.blocks is not None:
        shown.append(f"size={options.blocks * PAGE_SIZE // KIB}k")
    if options.nr_inodes is not None:
        shown.append(f"nr_inodes={options.nr_inodes}")
    if options.mode != TMPFS_ROOT_MODE:
        shown.append(f"mode={options.mode:03o}")
    if options.uid:
        shown.append(f"uid={options.uid}")
    if options.gid:
        shown.append(f"gid={options.gid}")
    return "".join(f",{item}" for item in shown)
