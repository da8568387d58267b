"""execve and execveat (fs/exec.c, fs/binfmt_elf.c, fs/binfmt_script.c).

The program is looked up in the coffer's own filesystem (never the host's),
checked completely (a dynamically linked program's interpreter too, found in
the same filesystem by :mod:`cofferos.coffers.program`), and only then does the
point of no return come: other
threads die, descriptors marked close-on-exec close, handled signals reset, and
the task gets a new address space holding the program. ``#!`` scripts run
through their interpreter (nested up to four times, as Linux allows).
``/proc/PID/exe`` names the running program even when it is not linked into
the coffer's tree (a program started from the host).

The program needs execute permission for the caller (do_open_execat: MAY_EXEC,
which root has only where some execute bit is set), and search permission on
its path; read permission is not needed. A set-user-ID program runs with its
owner as the effective uid, a set-group-ID (and group-executable) one with its
group as the effective gid, unless PR_SET_NO_NEW_PRIVS or a ``nosuid`` mount
says no (bprm_fill_uid); the saved and filesystem ids then follow the effective
ones, as after every execve. The capabilities are recomputed as for a file
without file capabilities (:func:`~cofferos.coffers.capability.bprm_caps`). The
auxiliary vector's AT_SECURE is not set.
"""

from __future__ import annotations

import dataclasses
import errno
import posixpath
import re
import stat
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import bprm_caps
from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.permission import (
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    generic_permission,
    inode_permission,
)
from cofferos.coffers.fs.vfs import MS_NOEXEC, MS_NOSUID
from cofferos.coffers.mm import ENGINE_BYTES, AddressSpace
from cofferos.coffers.program import (
    MAX_INTERP_DEPTH,
    find_interpreter,
    real_path,
    script_interpreter,
)
from cofferos.coffers.syscalls.cred import SUID_DUMPABLE
from cofferos.coffers.syscalls.exec_domain import exec_personality
from cofferos.coffers.syscalls.uaccess import (
    PATH_MAX,
    fd_arg,
    get_path,
    read_user,
    strncpy_from_user,
)
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH
from cofferos.errors import ElfError
from cofferos.isa.elf import BINPRM_BUF_SIZE, ElfImage, late_error, parse_program
from cofferos.isa.loader import check_fits

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

SUID_DUMP_USER = 1  #: a dumpable process (include/linux/sched/coredump.h)
SETGID_EXEC = stat.S_ISGID | stat.S_IXGRP  #: set-group-ID only with group execute
MAX_ARG_STRINGS = 0x7FFFFFFF
MAX_ARG_STRLEN = 32 * 4096
ARG_MAX = 2 * 1024 * 1024  # a quarter of the 8 MiB stack limit
AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW = -100, 0x1000, 0x100
PROC_EXE = re.compile(r"^/proc/(self|\d+)/exe$")
POINTER = struct.Struct("<Q")


def _strings(task: Task, address: int) -> list[bytes]:
    """A NULL-terminated array of string pointers (argv, envp)."""
    out: list[bytes] = []
    total = 0
    while address:
        (pointer,) = POINTER.unpack(read_user(task, address + POINTER.size * len(out),
                                              POINTER.size))
        if not pointer:
            break
        text = strncpy_from_user(task, pointer, MAX_ARG_STRLEN)
        total += len(text) + 1 + POINTER.size
        if total > ARG_MAX or len(out) >= MAX_ARG_STRINGS:
            raise FsError(errno.E2BIG)
        out.append(text)
    return out


def _resolve(task: Task, path: str) -> tuple[Inode, str]:
    coffer = task.coffer
    match = PROC_EXE.match(path)
    if match:
        who = match.group(1)
        process = task.process if who == "self" else coffer.processes.get(int(who))
        if process is None or process.exe_inode is None:
            raise FsError(errno.ENOENT)
        return process.exe_inode, process.exe_path
    inode = coffer.fs.lookup(path, task.fs.cwd, cred=task.creds)
    if inode.is_dir() or not inode.is_reg():
        raise FsError(errno.EACCES)
    inode_permission(inode, task.creds, MAY_EXEC | MAY_OPEN, path)
    if coffer.fs.mount_flag(inode, MS_NOEXEC):
        raise FsError(errno.EACCES, f"{path}: on a noexec mount")  # path_noexec
    return inode, real_path(coffer.fs, task.fs.cwd, path)


def _nosuid(fs: FileSystem, inode: Inode) -> bool:
    """Whether ``inode`` lies on a filesystem mount(2) attached with MS_NOSUID."""
    return fs.mount_flag(inode, MS_NOSUID)


def _bprm_creds(task: Task, inode: Inode) -> None:
    """The credentials and dumpability after exec (bprm_fill_uid,
    cap_bprm_creds_from_file): set-user-ID and set-group-ID bits, capabilities as
    for a file without file capabilities, saved and filesystem ids set to the
    effective ones; dumpable again unless the ids differ or the program could not
    be read (would_dump), as begin_new_exec decides; and the personality's flags
    that execve clears (:func:`.exec_domain.exec_personality`)."""
    creds = task.creds
    euid, egid = creds.euid, creds.egid
    set_id = False  #: a set-user-ID or set-group-ID bit was honoured (bprm->per_clear)
    if not task.process.no_new_privs and not _nosuid(task.coffer.fs, inode):
        if inode.mode & stat.S_ISUID:
            euid, set_id = inode.uid, True
        if inode.mode & SETGID_EXEC == SETGID_EXEC:
            egid, set_id = inode.gid, True
    creds = bprm_caps(dataclasses.replace(creds, euid=euid, egid=egid))
    creds = dataclasses.replace(creds, suid=euid, fsuid=euid, sgid=egid, fsgid=egid)
    task.process.creds = creds
    exec_personality(task.process, set_id)
    readable = generic_permission(inode, creds, MAY_READ)
    same_ids = creds.euid == creds.uid and creds.egid == creds.gid
    task.process.dumpable = SUID_DUMP_USER if same_ids and readable else SUID_DUMPABLE


def _check_image(task: Task, image: ElfImage, interp: ElfImage | None) -> None:
    """Everything the loader would refuse, before the point of no return: the image's
    (and its interpreter's) place in the address space, and its memory against the
    coffer's limit (the old address space is given back at exec unless a vfork parent
    still uses it; shared areas are charged to their objects, not to it)."""
    needed = check_fits(image, interp=interp)
    mm = task.mm
    shared = any(t.mm is mm for t in task.coffer.tasks.values() if t is not task and t.alive)
    if not task.coffer.memory.fits(needed - (0 if shared else mm.charged_bytes)):
        raise late_error(f"{image.path}: needs {needed} bytes of memory: over the limit")


def do_execve(task: Task, path: str, argv: list[bytes], envp: list[bytes]) -> None:
    for _depth in range(MAX_INTERP_DEPTH + 1):
        inode, exe_path = _resolve(task, path)
        head = inode.read(0, BINPRM_BUF_SIZE)  # never the whole file: it may be huge
        interp = script_interpreter(head)
        if interp is None:
            break
        argv = [w.encode() for w in interp] + [path.encode()] + argv[1:]
        path = interp[0]
    else:
        raise FsError(errno.ELOOP)
    coffer, old_cpu = task.coffer, task.cpu
    try:
        image = parse_program(inode, exe_path)
        interp = find_interpreter(coffer.fs, image, task.fs.cwd, task.creds)
        _check_image(task, image, interp)
    except ElfError as err:
        if err.fatal_signal is None:
            raise FsError(err.errno) from None
        # Linux finds this one while mapping, past the point of no return: the
        # process dies of it. Nothing of it has been torn down here, which no one
        # can tell from outside.
        coffer.kill_task(task, err.fatal_signal)
        return
    if coffer.dispatcher.personalities and not coffer.dispatcher.personalities.allows(
            "may_exec", task, path):  # the path as the program named it
        raise FsError(errno.EACCES)  # a personality's exec policy
    _bprm_creds(task, inode)  # past the point of no return
    task.charge(coffer.config.kernel_costs.exec_work)
    if coffer.lifecycle.before_exec(task):  # a vfork parent keeps the old engine
        coffer.load_program(task, image, argv, envp, inode, exe_path, interp=interp)
        old_cpu.stop()
        if old_cpu.task is task:
            old_cpu.task = None
        return
    # Reuse the engine (creating one costs milliseconds): wipe it and load anew.
    old_cpu.reset()
    task.mm = AddressSpace(old_cpu, coffer.memory, ENGINE_BYTES)
    coffer.load_program(task, image, argv, envp, inode, exe_path, fresh_cpu=False,
                        interp=interp)
    old_cpu.pc = old_cpu.pc - SYSCALL_INSN_LENGTH  # Unicorn adds it when the hook returns
    old_cpu.stop()


def sys_execve(task: Task, filename: int, argv: int, envp: int) -> int | None:
    path = get_path(task, filename)
    if not path:
        return -errno.ENOENT
    do_execve(task, path, _strings(task, argv), _strings(task, envp))
    return None


def sys_execveat(task: Task, dirfd: int, filename: int, argv: int, envp: int,
                 flags: int) -> int | None:
    path = get_path(task, filename)
    dirfd = fd_arg(dirfd)
    if not path.startswith("/") and dirfd != AT_FDCWD:
        base = task.files.get(dirfd)
        if not path and flags & AT_EMPTY_PATH:
            inode = base.inode
            if inode is None:
                return -errno.EACCES
            path = task.coffer.fs.path_of(inode.parent) if inode.is_dir() else base.path
        elif base.inode is None or not base.inode.is_dir():
            return -errno.ENOTDIR
        else:
            path = posixpath.join(task.coffer.fs.path_of(base.inode), path)
    if len(path) >= PATH_MAX:
        return -errno.ENAMETOOLONG
    do_execve(task, path, _strings(task, argv), _strings(task, envp))
    return None


def register(table: SyscallTable) -> None:
    table.add("execve", sys_execve, "path", "ptr", "ptr")
    table.add("execveat", sys_execveat, "dirfd", "path", "ptr", "ptr", "hex")
