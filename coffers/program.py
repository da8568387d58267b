"""Where a coffer finds the programs it runs: inside its own filesystem, as a container does.

Three questions a container runtime answers before the first instruction, and
``execve`` answers again for every program a guest starts:

* **Which file is the program?** :func:`find_program` looks a path, or a bare
  name through the ``PATH`` the guest gets, up in the coffer's tree (never the
  host's), as ``chroot`` and ``docker run`` do; ``coffersim run --rootfs DIR``
  starts what it finds there.
* **Which interpreter does it need?** A dynamically linked program names one in
  ``PT_INTERP`` (``/lib64/ld-linux-x86-64.so.2``, ``/lib/ld-musl-x86_64.so.1``);
  :func:`find_interpreter` opens it in the coffer's tree with execute
  permission, as ``load_elf_binary`` (``fs/binfmt_elf.c``) does with
  ``open_exec``, and checks it as an ELF of its own. The interpreter then maps
  the libraries itself, through the coffer's ``mmap``.
* **Where does a program started from the host live?** Without ``--rootfs`` the
  host program is not part of the coffer's tree; :func:`expose_host_program`
  links its (lazily read, immutable) inode at the path it was started by, so a
  program that re-executes ``argv[0]`` or ``/proc/self/exe`` finds itself, and
  nothing else of the host directory that held it.

The callers are :meth:`cofferos.coffers.coffer.Coffer.spawn` and
:mod:`cofferos.coffers.syscalls.exec`. Before any coffer exists,
:func:`resolve_program` turns what a user typed (``@workload``, a host path, a
name inside ``--rootfs``/``--image``) into what ``spawn`` takes; the API, the
experiments and the sweeps all go through it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.permission import MAY_EXEC, MAY_OPEN, FsCred, inode_permission
from cofferos.errors import ElfError, ProgramError
from cofferos.isa.elf import (
    BINPRM_BUF_SIZE,
    EHDR_SIZE,
    SCRIPT_MAGIC,
    ElfImage,
    parse_program,
)
from cofferos.workloads import resolve

if TYPE_CHECKING:
    from cofferos.coffers.config import CofferConfig

#: Directories made to hold a host program's path: root's, searchable by all (0755).
HOST_DIR_MODE = 0o755
#: ``#!`` scripts whose interpreter is a script, and so on: how deep Linux goes (binfmt_script).
MAX_INTERP_DEPTH = 4
#: Symlinks followed while a path is resolved before ELOOP (include/linux/namei.h MAXSYMLINKS).
MAX_SYMLINKS = 40
#: The interpreter is not a program Linux can load (include/uapi/asm-generic/errno.h):
#: what execve returns when the file PT_INTERP names is not a loadable ELF.
ELIBBAD = errno.ELIBBAD


def _interp_error(image: ElfImage, what: str, err: int) -> ElfError:
    return ElfError(f"{image.path}: dynamically linked: its program interpreter "
                    f"{image.interp} {what}", err=err)


def find_interpreter(fs: FileSystem, image: ElfImage, cwd: Inode,
                     cred: FsCred | None) -> ElfImage | None:
    """The checked interpreter of ``image`` from the coffer's tree (None for a static one).

    Raises :class:`ElfError` with the errno execve returns: ENOENT (or the lookup's
    error) when the interpreter is not there, EACCES when it may not be executed,
    EIO when it is shorter than an ELF header, ELIBBAD when it is not a loadable
    x86-64 ELF; with a fatal signal when Linux finds the fault only in
    load_elf_interp (its type, its segments), after the point of no return.
    """
    if image.interp is None:
        return None
    try:
        inode = fs.lookup(image.interp, cwd, cred=cred)
        if not inode.is_reg():
            raise FsError(errno.EACCES)
        inode_permission(inode, cred, MAY_EXEC | MAY_OPEN, image.interp)
        where = real_path(fs, cwd, image.interp)
    except FsError as err:
        missing = err.errno in (errno.ENOENT, errno.ENOTDIR)
        what = ("is not in the coffer's filesystem (give --rootfs a tree that holds it)" if missing
                else f"cannot be run: {os.strerror(err.errno)}")
        raise _interp_error(image, what, err.errno) from None
    if inode.size < EHDR_SIZE:  # elf_read of its header comes up short
        raise _interp_error(image, "is shorter than an ELF header", errno.EIO)
    try:
        interp = parse_program(inode, where, interpreter=True)
    except ElfError as err:
        # Linux checks the interpreter's header and program headers before the point
        # of no return (ELIBBAD), its segments only in load_elf_interp, after it: a
        # fault there kills the process (the error's fatal signal, SIGSEGV).
        refused = _interp_error(image, f"is not loadable ({err})", ELIBBAD)
        refused.fatal_signal = err.fatal_signal
        raise refused from None
    return interp


def real_path(fs: FileSystem, cwd: Inode, path: str) -> str:
    """The path with every symlink resolved, as /proc/PID/exe shows it."""
    for _hop in range(MAX_SYMLINKS):
        parent, name = fs.lookup_parent(path, cwd)
        child = parent.child(name)
        where = fs.path_of(parent)
        if child is None or not child.is_symlink():
            return posixpath.join(where, name)
        target = child.readlink()
        path = target if target.startswith("/") else posixpath.join(where, target)
    raise FsError(errno.ELOOP)


def _search_path(envp: list[str]) -> list[str]:
    """The PATH entries a guest with environment ``envp`` searches (execvp's default
    when it has none)."""
    for entry in envp:
        if entry.startswith("PATH="):
            return entry[len("PATH="):].split(":")
    return ["/bin", "/usr/bin"]


def find_program(fs: FileSystem, name: str, cwd: Inode, envp: list[str],
                 where: str) -> tuple[Inode, str]:
    """The program ``name`` names in the coffer's tree, and its path there.

    A name with a slash is looked up as it is (relative to ``cwd``); a bare name in
    each directory of the guest's PATH in turn, as execvp does. ``where`` names the
    tree in messages ("the coffer's filesystem (--rootfs DIR)"). Raises
    :class:`ProgramError` with one line when nothing executable is found.
    """
    if "/" in name:
        candidates = [name]
    else:
        candidates = [posixpath.join(d or ".", name) for d in _search_path(envp)]
    refused = ""
    for path in candidates:
        try:
            inode = fs.lookup(path, cwd)
        except FsError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                refused = refused or f"{path}: {os.strerror(err.errno)}"
            continue
        if inode.is_dir():
            refused = refused or f"{path}: is a directory"
        elif not inode.is_reg() or not inode.mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            refused = refused or f"{path}: not executable (mode {stat.filemode(inode.mode)})"
        else:
            return inode, path
    if refused:
        raise ProgramError(f"{refused} in {where}")
    how = "" if "/" in name else " (looked up through PATH)"
    raise ProgramError(f"{name}: no such file in {where}{how}")


def host_program_path(fs: FileSystem, cwd: str, host_path: str, argv0: str) -> str:
    """The path a program started from the host has inside the coffer: what
    /proc/PID/exe, the names in /proc/PID/maps and AT_EXECFN show, and where
    :func:`expose_host_program` links it when that path is free.

    The coffer's own file when an absolute argv[0] names one (symlinks resolved);
    else argv[0] as the user gave it, a relative path (``./prog``, ``bin/prog``)
    taken from ``cwd``, the first task's working directory; a bare name (or none)
    is /<name> (/<basename of the host path>). So nothing shows more of the host's
    directories than the user typed: ``@hello``, built in a host cache directory,
    is /hello.
    """
    if "/" not in argv0:  # a bare name (or none): the user named no directory
        return "/" + (argv0 or os.path.basename(host_path))
    if argv0.startswith("/"):
        try:
            if fs.lookup(argv0, fs.root).is_reg():
                return real_path(fs, fs.root, argv0)
        except FsError:
            pass
        return argv0
    return posixpath.normpath(posixpath.join("/", cwd, argv0))


def script_interpreter(head: bytes) -> list[str] | None:
    """The interpreter and its optional argument from a "#!" line (the first
    BINPRM_BUF_SIZE bytes of a file), or None when it is not a script; ENOEXEC for
    an empty one, as binfmt_script says."""
    if not head.startswith(SCRIPT_MAGIC):
        return None
    line = head[len(SCRIPT_MAGIC):BINPRM_BUF_SIZE].split(b"\n", 1)[0].strip()
    if not line:
        raise FsError(errno.ENOEXEC)
    interp, _, arg = line.partition(b" ")
    words = [interp.decode("utf-8", "surrogateescape")]
    if arg.strip():
        words.append(arg.strip().decode("utf-8", "surrogateescape"))
    return words


def through_scripts(fs: FileSystem, inode: Inode, path: str, argv: list[str | bytes],
                    cwd: Inode, envp: list[str], where: str
                    ) -> tuple[Inode, str, list[str | bytes]]:
    """A program of the tree that is a ``#!`` script runs through its interpreter, as
    execve runs it: the interpreter (a path, never searched for), its argument, the
    script's path, then the arguments after argv[0]. Returns the program to load."""
    for _depth in range(MAX_INTERP_DEPTH + 1):
        try:
            words = script_interpreter(inode.read(0, BINPRM_BUF_SIZE))
        except FsError as err:
            raise ProgramError(f"{path}: {os.strerror(err.errno)} (an empty #! line)") from None
        if words is None:
            return inode, path, argv
        argv = [*words, path, *argv[1:]]
        interpreter = words[0] if "/" in words[0] else "./" + words[0]
        inode, path = find_program(fs, interpreter, cwd, envp, where)
    raise ProgramError(f"{path}: more than {MAX_INTERP_DEPTH} levels of #! interpreters")


def expose_host_program(fs: FileSystem, exe: Inode, path: str) -> bool:
    """Link ``exe``, a program started from the host, at the absolute ``path`` in the
    coffer's tree, making the directories above it; marked immutable (writes fail with
    EPERM, as for ``chattr +i``). Nothing is done, and False returned, when the path
    is taken or cannot be made (a file where a directory is needed)."""
    directory = fs.root
    *dirs, name = [part for part in path.split("/") if part not in ("", ".")]
    try:
        for part in dirs:
            if part == "..":
                return False
            child = directory.child(part)
            if child is None:
                child = fs.mkdir(directory, part, HOST_DIR_MODE)
            if not child.is_dir():
                return False
            directory = child
        if name == ".." or directory.child(name) is not None:
            return False
    except FsError:
        return False
    directory.add_entry(name, exe)  # its one name: the new inode has nlink 1 already
    exe.immutable = True
    return True


def runs_inside(spec: str, config: CofferConfig | None) -> bool:
    """Whether ``spec`` names a program of the coffer's own tree (a path or a bare name
    looked up inside it) rather than a host file: with a root filesystem or an image,
    every program but a built-in ``@workload`` (which is always built on the host)."""
    return (config is not None and (bool(config.rootfs) or config.image is not None)
            and not spec.startswith("@"))


def resolve_program(spec: str, config: CofferConfig | None = None) -> str:
    """A host path for ``spec``: ``@name[:libc]`` builds a workload, a path must exist.
    A program of ``config``'s root filesystem or image is returned as named (it is looked
    up in the coffer when it starts it, :meth:`~cofferos.coffers.coffer.Coffer.spawn_inside`)."""
    if spec.startswith("@"):
        return str(resolve(spec))
    if runs_inside(spec, config):
        return spec
    if not os.path.exists(spec):
        raise ProgramError(f"{spec}: no such file")
    return spec
