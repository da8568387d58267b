"""User namespaces (kernel/user_namespace.c, kernel/capability.c's ns_capable).

A process's credentials hold kernel ids (Linux's kuid_t, kgid_t: the ids of the
coffer's initial namespace) and the user namespace they live in
(``Credentials.userns``; None is the initial one, where every id maps to
itself). A new namespace (unshare or clone with CLONE_NEWUSER, by anyone) starts
with empty maps: its creator's ids read back as the overflow ids (65534) until
``/proc/PID/uid_map`` and ``gid_map`` are written, once each, with lines of
"first-inside first-outside count" (outside: the parent namespace's ids). The
rules of map_write and new_idmap_permitted:

* a map is written once (EPERM after), at offset 0, in at most
  :data:`UID_GID_MAP_MAX_EXTENTS` lines that do not overlap (EINVAL otherwise);
* the writer must live in the namespace or its parent (EPERM);
* anyone may map the one id they have: one line of count 1 whose outside id is
  the writer's effective uid (gid_map: effective gid, and only after
  ``/proc/PID/setgroups`` says "deny"); any other map needs CAP_SETUID
  (CAP_SETGID) in the parent namespace, and every outside id mapped in it.

Capabilities (:func:`ns_capable`): the creator gets every capability in the new
namespace, which also holds every capability in namespaces its owner creates
below it; a capability in a namespace never reaches above it. Files keep their
kernel ids: :func:`from_kuid_munged` shows an unmapped one as 65534, and a
capability overrides a file's permissions only if the file's ids are mapped
(:func:`privileged_wrt_inode_uidgid`).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.capability import cap_raised
from cofferos.coffers.fs import FsError

if TYPE_CHECKING:
    from cofferos.coffers.task import Credentials

OVERFLOW_ID = 65534  #: /proc/sys/kernel/overflowuid and overflowgid
INVALID_ID = -1  #: INVALID_UID: an id with no mapping
ID_LIMIT = 1 << 32  #: ids are u32, and (u32)-1 is never valid
UID_GID_MAP_MAX_EXTENTS = 340  #: include/linux/user_namespace.h
MAX_USERNS_LEVEL = 32  #: create_user_ns: a 33rd level is EUSERS
MAP_WRITE_MAX = 4096  #: map_write: PAGE_SIZE - 1 bytes at most
UID_MAP, GID_MAP = "uid", "gid"


@dataclass(frozen=True)
class Extent:
    """One line of a map: ``count`` ids from ``first`` inside, ``lower_first`` outside."""

    first: int
    lower_first: int
    count: int


@dataclass(eq=False)
class UserNamespace:
    """One user namespace (``struct user_namespace``); None stands for the initial one."""

    parent: UserNamespace | None
    owner: int  #: the creator's effective kernel uid
    group: int  #: the creator's effective kernel gid
    level: int
    uid_map: tuple[Extent, ...] | None = None  #: None: not written yet
    gid_map: tuple[Extent, ...] | None = None
    setgroups_allowed: bool = True  #: /proc/PID/setgroups: "allow" or "deny"
    #: the maps' extents with kernel ids outside (composed through the parents)
    _kernel: dict[str, tuple[Extent, ...]] = field(default_factory=dict)


def userns_of(creds: Credentials) -> UserNamespace | None:
    return creds.userns


def _level(ns: UserNamespace | None) -> int:
    return 0 if ns is None else ns.level


def _map_down(extents: tuple[Extent, ...], value: int) -> int:
    for extent in extents:
        if extent.first <= value < extent.first + extent.count:
            return extent.lower_first + value - extent.first
    return INVALID_ID


def _map_up(extents: tuple[Extent, ...], kid: int) -> int:
    for extent in extents:
        if extent.lower_first <= kid < extent.lower_first + extent.count:
            return extent.first + kid - extent.lower_first
    return INVALID_ID


def make_kid(ns: UserNamespace | None, which: str, value: int) -> int:
    """make_kuid / make_kgid: the kernel id of ``value`` in ``ns``, or INVALID_ID."""
    if value < 0 or value >= ID_LIMIT - 1:
        return INVALID_ID
    if ns is None:
        return value
    return _map_down(ns._kernel.get(which, ()), value)


def from_kid(ns: UserNamespace | None, which: str, kid: int) -> int:
    """from_kuid / from_kgid: ``kid`` as ``ns`` sees it, or INVALID_ID if unmapped."""
    if ns is None:
        return kid
    return _map_up(ns._kernel.get(which, ()), kid)


def from_kid_munged(ns: UserNamespace | None, which: str, kid: int) -> int:
    """from_kuid_munged: unmapped ids read as the overflow id."""
    value = from_kid(ns, which, kid)
    return OVERFLOW_ID if value == INVALID_ID else value


def root_uid(creds: Credentials) -> int:
    """The kernel uid of root in the credentials' namespace (INVALID_ID if unmapped)."""
    return make_kid(creds.userns, UID_MAP, 0)


def ns_capable(creds: Credentials, ns: UserNamespace | None, cap: int) -> bool:
    """cap_capable: ``cap`` in ``ns`` for ``creds``: its own namespace's effective set,
    or every capability when ``creds`` own the namespace's parent-side creator."""
    own = creds.userns
    while True:
        if ns is own:
            return cap_raised(creds.cap_effective, cap)
        if ns is None or _level(ns) <= _level(own):
            return False
        if ns.parent is own and ns.owner == creds.euid:
            return True
        ns = ns.parent


def privileged_wrt_inode_uidgid(creds: Credentials, uid: int, gid: int) -> bool:
    """An inode's owner and group are both mapped in the caller's namespace."""
    ns = creds.userns
    return (from_kid(ns, UID_MAP, uid) != INVALID_ID
            and from_kid(ns, GID_MAP, gid) != INVALID_ID)


def create_user_ns(creds: Credentials) -> UserNamespace:
    """create_user_ns: a child of the credentials' namespace, owned by their euid.
    EUSERS past 32 levels; EPERM if the creator's own ids are not mapped."""
    parent = creds.userns
    if _level(parent) >= MAX_USERNS_LEVEL:
        raise FsError(errno.EUSERS)
    if (from_kid(parent, UID_MAP, creds.euid) == INVALID_ID
            or from_kid(parent, GID_MAP, creds.egid) == INVALID_ID):
        raise FsError(errno.EPERM, "the creator's ids are not mapped")
    return UserNamespace(parent, creds.euid, creds.egid, _level(parent) + 1)


def show_map(ns: UserNamespace | None, which: str, reader: UserNamespace | None) -> str:
    """/proc/PID/uid_map as a reader in ``reader`` sees it (uid_m_show): outside
    ids in the reader's namespace, or in the parent's when it reads its own."""
    if ns is None:
        return f"{0:>10} {0:>10} {ID_LIMIT - 1:>10}\n"
    lower_ns = ns.parent if reader is ns else reader
    lines = []
    for extent in ns._kernel.get(which, ()):
        lower = from_kid(lower_ns, which, extent.lower_first)
        lower = ID_LIMIT - 1 if lower == INVALID_ID else lower
        lines.append(f"{extent.first:>10} {lower:>10} {extent.count:>10}\n")
    return "".join(lines)


def _parse_map(data: bytes) -> tuple[Extent, ...]:
    extents: list[Extent] = []
    for line in data.decode("ascii", "replace").split("\n"):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            raise FsError(errno.EINVAL, "a map line is three numbers")
        first, lower, count = (int(f) for f in fields)
        if count == 0 or first + count > ID_LIMIT - 1 or lower + count > ID_LIMIT - 1:
            raise FsError(errno.EINVAL, "map line out of range")
        extents.append(Extent(first, lower, count))
    if not extents or len(extents) > UID_GID_MAP_MAX_EXTENTS:
        raise FsError(errno.EINVAL, "no map lines, or too many")
    for i, a in enumerate(extents):
        for b in extents[i + 1:]:
            if (a.first < b.first + b.count and b.first < a.first + a.count
                    or a.lower_first < b.lower_first + b.count
                    and b.lower_first < a.lower_first + a.count):
                raise FsError(errno.EINVAL, "map lines overlap")
    return tuple(extents)


def map_write(ns: UserNamespace | None, which: str, offset: int, data: bytes,
              creds: Credentials) -> int:
    """A write to /proc/PID/uid_map or gid_map of a process in ``ns``."""
    from cofferos.coffers.capability import CAP_SETGID, CAP_SETUID

    if offset != 0 or len(data) >= MAP_WRITE_MAX:
        raise FsError(errno.EINVAL)
    if ns is None or (ns.uid_map if which == UID_MAP else ns.gid_map) is not None:
        raise FsError(errno.EPERM, "the map is written already")
    if creds.userns is not ns and creds.userns is not ns.parent:
        raise FsError(errno.EPERM, "the writer is in neither namespace")
    extents = _parse_map(data)
    cap = CAP_SETUID if which == UID_MAP else CAP_SETGID
    own = creds.euid if which == UID_MAP else creds.egid
    own_outside = from_kid(ns.parent, which, own)
    single = len(extents) == 1 and extents[0].count == 1 and extents[0].lower_first == own_outside
    if which == GID_MAP and single and ns.setgroups_allowed:
        single = False  # a lone gid needs setgroups denied first
    if not single and not (ns_capable(creds, ns.parent, cap) and creds.userns is ns.parent):
        raise FsError(errno.EPERM, "mapping ids one does not own needs the capability")
    kernel = []
    for extent in extents:
        lower = make_kid(ns.parent, which, extent.lower_first)
        if lower == INVALID_ID or make_kid(ns.parent, which, extent.lower_first
                                           + extent.count - 1) != lower + extent.count - 1:
            raise FsError(errno.EPERM, "outside ids not mapped in the parent")
        kernel.append(Extent(extent.first, lower, extent.count))
    ns._kernel[which] = tuple(kernel)
    if which == UID_MAP:
        ns.uid_map = extents
    else:
        ns.gid_map = extents
    return len(data)


def setgroups_write(ns: UserNamespace | None, offset: int, data: bytes) -> int:
    """proc_setgroups_write: "allow" or "deny"; deny only before gid_map, and for good."""
    if offset != 0:
        raise FsError(errno.EINVAL)
    word = data.strip()
    if word not in (b"allow", b"deny"):
        raise FsError(errno.EINVAL)
    allow = word == b"allow"
    if ns is None:
        if not allow:
            raise FsError(errno.EPERM)
        return len(data)
    if allow and not ns.setgroups_allowed:
        raise FsError(errno.EPERM)
    if not allow and ns.gid_map is not None and ns.setgroups_allowed:
        raise FsError(errno.EPERM, "gid_map is written already")
    ns.setgroups_allowed = allow
    return len(data)


def setgroups_show(ns: UserNamespace | None) -> str:
    return "allow\n" if ns is None or ns.setgroups_allowed else "deny\n"


def userns_may_setgroups(ns: UserNamespace | None) -> bool:
    """setgroups(2) needs a gid map and "allow" (userns_may_setgroups)."""
    return ns is None or (ns.gid_map is not None and ns.setgroups_allowed)
