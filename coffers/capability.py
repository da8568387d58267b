"""POSIX capabilities: the numbers of include/uapi/linux/capability.h and the rules of
kernel/capability.c and security/commoncap.c that a coffer's credentials follow.

A process's :class:`~cofferos.coffers.task.Credentials` carry the capability sets
as bit masks (bit ``n`` is capability ``n``): effective (what :func:`capable`
tests), permitted (what the effective set may be raised to), inheritable and the
bounding set, plus the securebits. Root starts with every capability, as the
init process of a Linux container does.

Changing uids changes capabilities as ``cap_task_fix_setuid`` does
(:func:`fix_setuid`): leaving uid 0 for good (no real, effective or saved uid 0
left) clears the permitted and effective sets unless SECBIT_KEEP_CAPS is set; an
effective uid leaving 0 clears the effective set, and one coming back to 0
restores it from the permitted set. setfsuid moves only the filesystem
capabilities (:func:`fix_setfsuid`). execve recomputes the sets as
``cap_bprm_creds_from_file`` does for a file without file capabilities
(:func:`bprm_caps`). Ambient capabilities and file capabilities are not
modelled (both are empty).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.task import Credentials

# include/uapi/linux/capability.h
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_SYS_CHROOT = 18
CAP_SYS_ADMIN = 21
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_MKNOD = 27
CAP_MAC_OVERRIDE = 32
CAP_LAST_CAP = 40  #: CAP_CHECKPOINT_RESTORE
CAP_VALID_MASK = (1 << (CAP_LAST_CAP + 1)) - 1
CAP_FULL_SET = CAP_VALID_MASK
"""Every capability: what root holds (CAP_FULL_SET)."""


def cap_to_mask(cap: int) -> int:
    """The bit of capability ``cap`` (CAP_TO_MASK / BIT_ULL)."""
    return 1 << cap


#: The capabilities a filesystem uid of 0 stands for (CAP_FS_SET in linux/capability.h).
CAP_FS_SET = (cap_to_mask(CAP_CHOWN) | cap_to_mask(CAP_MKNOD) | cap_to_mask(CAP_DAC_OVERRIDE)
              | cap_to_mask(CAP_DAC_READ_SEARCH) | cap_to_mask(CAP_FOWNER)
              | cap_to_mask(CAP_FSETID) | cap_to_mask(CAP_MAC_OVERRIDE))

# include/uapi/linux/securebits.h
SECURE_NOROOT = 0
SECURE_NO_SETUID_FIXUP = 2
SECURE_KEEP_CAPS = 4
SECURE_KEEP_CAPS_LOCKED = 5
SECBIT_NOROOT = 1 << SECURE_NOROOT
SECBIT_NO_SETUID_FIXUP = 1 << SECURE_NO_SETUID_FIXUP
SECBIT_KEEP_CAPS = 1 << SECURE_KEEP_CAPS
SECBIT_KEEP_CAPS_LOCKED = 1 << SECURE_KEEP_CAPS_LOCKED

ROOT_UID = 0


def cap_raised(mask: int, cap: int) -> bool:
    """Whether capability ``cap`` is in ``mask`` (cap_raised)."""
    return bool(mask >> cap & 1)


def has_capability(creds: Credentials, cap: int) -> bool:
    """ns_capable(current_user_ns()): the credentials hold ``cap`` in their effective
    set, in their own user namespace (:mod:`cofferos.coffers.userns`)."""
    return cap_raised(creds.cap_effective, cap)


def _root(creds: Credentials) -> int:
    """The kernel uid that is root in the credentials' user namespace."""
    if creds.userns is None:
        return ROOT_UID
    from cofferos.coffers.userns import root_uid

    return root_uid(creds)


def fix_setuid(old: Credentials, new: Credentials) -> Credentials:
    """``new`` after cap_task_fix_setuid(LSM_SETID_ID/RE/RES): cap_emulate_setxuid."""
    if old.securebits & SECBIT_NO_SETUID_FIXUP:
        return new
    effective, permitted = new.cap_effective, new.cap_permitted
    root = _root(old)
    was_root = root in (old.uid, old.euid, old.suid)
    if was_root and root not in (new.uid, new.euid, new.suid):
        if not old.securebits & SECBIT_KEEP_CAPS:
            effective = permitted = 0
    if old.euid == root and new.euid != root:
        effective = 0
    if old.euid != root and new.euid == root:
        effective = permitted
    return replace(new, cap_effective=effective, cap_permitted=permitted)


def fix_setfsuid(old: Credentials, new: Credentials) -> Credentials:
    """``new`` after cap_task_fix_setuid(LSM_SETID_FS): the filesystem capabilities
    leave the effective set with fsuid 0, and come back (if permitted) with it."""
    if old.securebits & SECBIT_NO_SETUID_FIXUP:
        return new
    effective = new.cap_effective
    root = _root(old)
    if old.fsuid == root and new.fsuid != root:
        effective &= ~CAP_FS_SET
    if old.fsuid != root and new.fsuid == root:
        effective |= CAP_FS_SET & new.cap_permitted
    return replace(new, cap_effective=effective)


def bprm_caps(creds: Credentials) -> Credentials:
    """The credentials after execve of a file without file capabilities
    (cap_bprm_creds_from_file and handle_privileged_root): root, real or effective,
    gets the bounding set (and the inheritable one) permitted, effective only with
    an effective uid of 0; anyone else keeps no capabilities. SECBIT_KEEP_CAPS is
    cleared, as every execve clears it."""
    permitted = effective = 0
    root = _root(creds)
    if not creds.securebits & SECBIT_NOROOT and root in (creds.uid, creds.euid):
        permitted = creds.cap_bset | creds.cap_inheritable
        if creds.euid == root:
            effective = permitted
    return replace(creds, cap_permitted=permitted, cap_effective=effective,
                   securebits=creds.securebits & ~SECBIT_KEEP_CAPS)


def access_override(creds: Credentials) -> Credentials:
    """The credentials access(2) checks with (access_override_creds in fs/open.c):
    the real ids as the filesystem ids; the effective capabilities cleared for a
    non-root real uid, or set to the permitted ones for real uid 0."""
    new = replace(creds, fsuid=creds.uid, fsgid=creds.gid)
    if creds.securebits & SECBIT_NO_SETUID_FIXUP:
        return new
    effective = creds.cap_permitted if creds.uid == _root(creds) else 0
    return replace(new, cap_effective=effective)
