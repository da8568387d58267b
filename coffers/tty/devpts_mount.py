"""mount(2) of devpts: a new instance of the pty filesystem (fs/devpts/inode.c).

Since Linux 4.7 every devpts mount is a new instance (``newinstance`` is accepted
and changes nothing), and devpts may be mounted in a user namespace
(FS_USERNS_MOUNT): a rootless container mounts its own on /dev/pts, so that its
ptys are numbered from 0 and /dev/ptmx (which opens the devpts mounted at "pts"
beside it, :meth:`~cofferos.coffers.tty.devpts.Devpts.instance_for`) allocates
there. Options, as devpts_parse_param takes them: ``mode=`` (new slaves' mode,
0600), ``ptmxmode=`` (the instance's ptmx, 0000), ``gid=`` and ``uid=`` (new
slaves' group and owner, ids of the caller's user namespace: EINVAL unmapped),
``max=`` (pairs at most; kept and shown), ``newinstance``; anything else is EINVAL.
The instance's root and ptmx belong to the root of the caller's user namespace.
/proc/mounts shows them as devpts_show_options does. Remounting a devpts is not
modelled (EINVAL, as for any mount that is not a tmpfs).
"""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cofferos.coffers.fs import FsError
from cofferos.coffers.userns import GID_MAP, INVALID_ID, UID_MAP, make_kid

from .devpts import PTY_MAX, Devpts

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

DEVPTS = "devpts"
DEFAULT_MODE = 0o600  #: DEVPTS_DEFAULT_MODE
DEFAULT_PTMX_MODE = 0o000  #: DEVPTS_DEFAULT_PTMX_MODE
MODE_MASK = 0o7777  #: S_IALLUGO
ROOT_MODE = 0o755  #: an instance's root: S_IRUGO | S_IXUGO | S_IWUSR


@dataclass
class DevptsOptions:
    """devpts's own options (struct pts_mount_opts); ids are kernel ids."""

    mode: int = DEFAULT_MODE
    ptmx_mode: int = DEFAULT_PTMX_MODE
    uid: int | None = None
    gid: int | None = None
    shown_uid: int = 0  #: uid= and gid= as the caller wrote them (for /proc/mounts)
    shown_gid: int = 0
    max: int = PTY_MAX


def _number(key: str, value: str | None, base: int = 10) -> int:
    try:
        return int(value or "", base)
    except ValueError:
        raise FsError(errno.EINVAL, f"devpts: bad value for {key}") from None


def parse(data: str, userns: Any) -> DevptsOptions:
    options = DevptsOptions()
    for item in filter(None, data.split(",")):
        key, _, value = item.partition("=")
        if key == "newinstance" and not value:
            continue
        if key in ("mode", "ptmxmode"):
            mode = _number(key, value, 8) & MODE_MASK
            if key == "mode":
                options.mode = mode
            else:
                options.ptmx_mode = mode
        elif key in ("uid", "gid"):
            ident = _number(key, value)
            kid = make_kid(userns, UID_MAP if key == "uid" else GID_MAP, ident)
            if kid == INVALID_ID:
                raise FsError(errno.EINVAL, f"devpts: {key} not mapped")
            if key == "uid":
                options.uid, options.shown_uid = kid, ident
            else:
                options.gid, options.shown_gid = kid, ident
        elif key == "max":
            options.max = min(_number(key, value), PTY_MAX)
        else:
            raise FsError(errno.EINVAL, f"devpts: unknown parameter {key!r}")
    return options


def show(options: DevptsOptions) -> str:
    """devpts_show_options: after the mount's and the filesystem's flags."""
    shown = ""
    if options.uid is not None:
        shown += f",uid={options.shown_uid}"
    if options.gid is not None:
        shown += f",gid={options.shown_gid}"
    shown += f",mode={options.mode:03o},ptmxmode={options.ptmx_mode:03o}"
    if options.max < PTY_MAX:
        shown += f",max={options.max}"
    return shown


def new_instance(task: Task, options: DevptsOptions, dev: int) -> Devpts:
    """A new devpts, its ptmx owned by the root of the caller's user namespace."""
    userns = task.creds.userns
    owner = (max(make_kid(userns, UID_MAP, 0), 0), max(make_kid(userns, GID_MAP, 0), 0))
    main = task.coffer.devpts
    instance = Devpts(task.coffer, dev, ptmx_mode=options.ptmx_mode, slave_mode=options.mode,
                      gid=options.gid, uid=options.uid, max_pairs=options.max, owner=owner,
                      instances=main.instances)
    root = instance.root  # devpts_fill_super: the namespace root's, rwxr-xr-x
    root.uid, root.gid = owner
    root.mode = stat.S_IFDIR | ROOT_MODE
    return instance
