"""User and group ids: kernel/sys.c's get*id/set*id calls and kernel/groups.c.

A process's :class:`~cofferos.coffers.task.Credentials` are immutable, as Linux's
``struct cred``: every change builds new credentials and installs them on the
process (the threads see them through it). The rules are POSIX's and Linux's:

* a privileged caller may set any id: CAP_SETUID for uids, CAP_SETGID for gids
  and groups, in the effective capability set (:func:`capable`);
* an unprivileged caller may only move each id among its current real,
  effective and saved ids;
* every call that changes the effective id moves the filesystem id with it;
  setfsuid/setfsgid set the filesystem id alone and return the old one;
* a uid change adjusts the capabilities as cap_task_fix_setuid does
  (:func:`cofferos.coffers.capability.fix_setuid`): setuid from root to a
  non-zero uid drops them all, unless SECBIT_KEEP_CAPS (prctl PR_SET_KEEPCAPS)
  keeps the permitted set; setfsuid moves the filesystem capabilities only;
* a change of the effective or filesystem ids makes the process non-dumpable
  (commit_creds sets fs.suid_dumpable, 0): its /proc files then belong to root.

Ids cross the system call boundary through the caller's user namespace
(:mod:`cofferos.coffers.userns`): what a call sets is mapped to a kernel id
(EINVAL if unmapped), what it reads back is mapped up (65534 if unmapped), and
setgroups also needs the namespace's "allow".

An id of ``(uid_t)-1`` means "leave unchanged" where Linux allows it, and is
EINVAL where a real id is needed (setuid, setgid). Filesystem permission checks
(:mod:`cofferos.coffers.fs.permission`) use the filesystem ids and capabilities.
"""

from __future__ import annotations

import dataclasses
import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import (
    CAP_SETGID,
    CAP_SETUID,
    fix_setfsuid,
    fix_setuid,
    has_capability,
)
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, signed
from cofferos.coffers.userns import (
    GID_MAP,
    INVALID_ID,
    UID_MAP,
    from_kid_munged,
    make_kid,
    userns_may_setgroups,
)

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Credentials, Task

NO_ID = 0xFFFF_FFFF  #: (uid_t)-1: "unchanged", and never a valid id
SUID_DUMPABLE = 0  #: the sysctl fs.suid_dumpable (SUID_DUMP_DISABLE), Linux's default
NGROUPS_MAX = 65536  #: include/uapi/linux/limits.h
GID = struct.Struct("<I")


def capable(task: Task, cap: int) -> bool:
    """ns_capable(current_user_ns(), cap): ``cap`` is in the task's effective capability
    set, which counts in its own user namespace (set*id, setgroups, capset)."""
    return has_capability(task.creds, cap)


def capable_initial(task: Task, cap: int) -> bool:
    """capable(): ``cap`` in the coffer's initial user namespace, for what no user
    namespace owns (nice, real-time scheduling, resource limits, the PID namespace):
    a user namespace's root holds every capability and still fails it."""
    from cofferos.coffers.userns import ns_capable

    return ns_capable(task.creds, None, cap)


def commit_creds(task: Task, new: Credentials) -> int:
    """Install ``new`` on the process; a change of effective or filesystem ids makes
    it non-dumpable, as commit_creds does."""
    old = task.creds
    if (old.euid, old.egid, old.fsuid, old.fsgid) != (new.euid, new.egid, new.fsuid,
                                                      new.fsgid):
        task.process.dumpable = SUID_DUMPABLE
    task.process.creds = new
    return 0


def _commit(task: Task, **changes: int | tuple[int, ...]) -> int:
    return commit_creds(task, dataclasses.replace(task.creds, **changes))  # type: ignore[arg-type]


def _commit_uids(task: Task, **changes: int) -> int:
    """Install new uids, and the capabilities cap_task_fix_setuid leaves with them."""
    old = task.creds
    return commit_creds(task, fix_setuid(old, dataclasses.replace(old, **changes)))


def _id(value: int) -> int:
    return value & NO_ID


def _kid(task: Task, which: str, value: int) -> int:
    """make_kuid / make_kgid of a caller's id (NO_ID stays NO_ID); EINVAL if the
    caller's user namespace does not map it."""
    value = _id(value)
    if value == NO_ID:
        return NO_ID
    kid = make_kid(task.creds.userns, which, value)
    if kid == INVALID_ID:
        raise FsError(errno.EINVAL, f"{which} {value} is not mapped")
    return kid


def _kuid(task: Task, value: int) -> int:
    return _kid(task, UID_MAP, value)


def _kgid(task: Task, value: int) -> int:
    return _kid(task, GID_MAP, value)


def _shown(task: Task, which: str, kid: int) -> int:
    """from_kuid_munged / from_kgid_munged in the caller's namespace."""
    return from_kid_munged(task.creds.userns, which, kid)


# -- reading ------------------------------------------------------------------------------
def sys_getuid(task: Task) -> int:
    return _shown(task, UID_MAP, task.creds.uid)


def sys_geteuid(task: Task) -> int:
    return _shown(task, UID_MAP, task.creds.euid)


def sys_getgid(task: Task) -> int:
    return _shown(task, GID_MAP, task.creds.gid)


def sys_getegid(task: Task) -> int:
    return _shown(task, GID_MAP, task.creds.egid)


def _put_ids(task: Task, addresses: tuple[int, int, int], ids: tuple[int, int, int]) -> int:
    for address, value in zip(addresses, ids, strict=True):
        copy_to_user(task, address, GID.pack(value))
    return 0


def sys_getresuid(task: Task, ruid: int, euid: int, suid: int) -> int:
    creds = task.creds
    return _put_ids(task, (ruid, euid, suid),
                    tuple(_shown(task, UID_MAP, i) for i in _uids(creds)))  # type: ignore[arg-type]


def sys_getresgid(task: Task, rgid: int, egid: int, sgid: int) -> int:
    creds = task.creds
    return _put_ids(task, (rgid, egid, sgid),
                    tuple(_shown(task, GID_MAP, i) for i in _gids(creds)))  # type: ignore[arg-type]


# -- uids ---------------------------------------------------------------------------------
def _uids(creds: Credentials) -> tuple[int, int, int]:
    return creds.uid, creds.euid, creds.suid


def sys_setuid(task: Task, uid: int) -> int:
    uid = _kuid(task, uid)
    if uid == NO_ID:
        return -errno.EINVAL
    if capable(task, CAP_SETUID):
        return _commit_uids(task, uid=uid, euid=uid, suid=uid, fsuid=uid)
    if uid in (task.creds.uid, task.creds.suid):
        return _commit_uids(task, euid=uid, fsuid=uid)
    return -errno.EPERM


def sys_setreuid(task: Task, ruid: int, euid: int) -> int:
    ruid, euid = _kuid(task, ruid), _kuid(task, euid)
    old = task.creds
    privileged = capable(task, CAP_SETUID)
    new_r = old.uid if ruid == NO_ID else ruid
    new_e = old.euid if euid == NO_ID else euid
    if ruid != NO_ID and not privileged and ruid not in (old.uid, old.euid):
        return -errno.EPERM
    if euid != NO_ID and not privileged and euid not in _uids(old):
        return -errno.EPERM
    new_s = new_e if ruid != NO_ID or (euid != NO_ID and euid != old.uid) else old.suid
    return _commit_uids(task, uid=new_r, euid=new_e, suid=new_s, fsuid=new_e)


def sys_setresuid(task: Task, ruid: int, euid: int, suid: int) -> int:
    wanted = tuple(_kuid(task, v) for v in (ruid, euid, suid))
    old = task.creds
    if not capable(task, CAP_SETUID) and any(
            v != NO_ID and v not in _uids(old) for v in wanted):
        return -errno.EPERM
    new = [o if v == NO_ID else v for v, o in zip(wanted, _uids(old), strict=True)]
    return _commit_uids(task, uid=new[0], euid=new[1], suid=new[2], fsuid=new[1])


def sys_setfsuid(task: Task, fsuid: int) -> int:
    old = task.creds
    fsuid = make_kid(old.userns, UID_MAP, _id(fsuid)) & NO_ID  # unmapped: no change
    if fsuid != NO_ID and (capable(task, CAP_SETUID) or fsuid in (*_uids(old), old.fsuid)):
        commit_creds(task, fix_setfsuid(old, dataclasses.replace(old, fsuid=fsuid)))
    return _shown(task, UID_MAP, old.fsuid)


# -- gids ---------------------------------------------------------------------------------
def _gids(creds: Credentials) -> tuple[int, int, int]:
    return creds.gid, creds.egid, creds.sgid


def sys_setgid(task: Task, gid: int) -> int:
    gid = _kgid(task, gid)
    if gid == NO_ID:
        return -errno.EINVAL
    if capable(task, CAP_SETGID):
        return _commit(task, gid=gid, egid=gid, sgid=gid, fsgid=gid)
    if gid in (task.creds.gid, task.creds.sgid):
        return _commit(task, egid=gid, fsgid=gid)
    return -errno.EPERM


def sys_setregid(task: Task, rgid: int, egid: int) -> int:
    rgid, egid = _kgid(task, rgid), _kgid(task, egid)
    old = task.creds
    privileged = capable(task, CAP_SETGID)
    new_r = old.gid if rgid == NO_ID else rgid
    new_e = old.egid if egid == NO_ID else egid
    if rgid != NO_ID and not privileged and rgid not in (old.gid, old.egid):
        return -errno.EPERM
    if egid != NO_ID and not privileged and egid not in _gids(old):
        return -errno.EPERM
    new_s = new_e if rgid != NO_ID or (egid != NO_ID and egid != old.gid) else old.sgid
    return _commit(task, gid=new_r, egid=new_e, sgid=new_s, fsgid=new_e)


def sys_setresgid(task: Task, rgid: int, egid: int, sgid: int) -> int:
    wanted = tuple(_kgid(task, v) for v in (rgid, egid, sgid))
    old = task.creds
    if not capable(task, CAP_SETGID) and any(
            v != NO_ID and v not in _gids(old) for v in wanted):
        return -errno.EPERM
    new = [o if v == NO_ID else v for v, o in zip(wanted, _gids(old), strict=True)]
    return _commit(task, gid=new[0], egid=new[1], sgid=new[2], fsgid=new[1])


def sys_setfsgid(task: Task, fsgid: int) -> int:
    old = task.creds
    fsgid = make_kid(old.userns, GID_MAP, _id(fsgid)) & NO_ID  # unmapped: no change
    if fsgid != NO_ID and (capable(task, CAP_SETGID) or fsgid in (*_gids(old), old.fsgid)):
        _commit(task, fsgid=fsgid)
    return _shown(task, GID_MAP, old.fsgid)


# -- supplementary groups (kernel/groups.c) --------------------------------------------------
def sys_getgroups(task: Task, size: int, grouplist: int) -> int:
    size = signed(size, 32)
    groups = task.creds.groups
    if size < 0:
        return -errno.EINVAL
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    if groups:
        copy_to_user(task, grouplist, b"".join(GID.pack(_shown(task, GID_MAP, g))
                                               for g in groups))
    return len(groups)


def sys_setgroups(task: Task, size: int, grouplist: int) -> int:
    size = signed(size, 32)
    if not capable(task, CAP_SETGID) or not userns_may_setgroups(task.creds.userns):
        return -errno.EPERM
    if size < 0 or size > NGROUPS_MAX:
        return -errno.EINVAL
    raw = copy_from_user(task, grouplist, size * GID.size) if size else b""
    groups = sorted(_kgid(task, GID.unpack_from(raw, i * GID.size)[0]) for i in range(size))
    return _commit(task, groups=tuple(groups))  # groups_sort: kept sorted


def register(table: SyscallTable) -> None:
    table.add("getuid", sys_getuid)
    table.add("geteuid", sys_geteuid)
    table.add("getgid", sys_getgid)
    table.add("getegid", sys_getegid)
    table.add("getresuid", sys_getresuid, "ptr", "ptr", "ptr")
    table.add("getresgid", sys_getresgid, "ptr", "ptr", "ptr")
    table.add("setuid", sys_setuid, "uint")
    table.add("setgid", sys_setgid, "uint")
    table.add("setreuid", sys_setreuid, "int", "int")
    table.add("setregid", sys_setregid, "int", "int")
    table.add("setresuid", sys_setresuid, "int", "int", "int")
    table.add("setresgid", sys_setresgid, "int", "int", "int")
    table.add("setfsuid", sys_setfsuid, "uint")
    table.add("setfsgid", sys_setfsgid, "uint")
    table.add("getgroups", sys_getgroups, "int", "ptr")
    table.add("setgroups", sys_setgroups, "int", "ptr")
