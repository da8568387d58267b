"""Starting programs in a coffer: spawn, and the image loaded into a fresh address space.

:meth:`Binfmt.spawn` starts a host executable as the coffer's init (or a new
orphan), linking its inode into the coffer's tree; :meth:`Binfmt.spawn_inside`
starts a program of the coffer's own filesystem (through PATH and ``#!``
scripts, as ``docker run IMAGE NAME``). Both check that the image fits the
memory limit, give the first process its standard streams, working directory and
limits, and go through :meth:`Binfmt.load_program`, which execve shares: the
ELF image and its interpreter laid out in an address space
(:mod:`cofferos.isa.loader`), with the block costs its file kept from a last run.

:class:`Binfmt` is a part of :class:`cofferos.coffers.coffer.Coffer`.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cofferos.coffers.fdtable import FdTable
from cofferos.coffers.files import HostStream
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.hostimport import HostProgramSource
from cofferos.coffers.fs.inode import MAX_IMPORT_SIZE
from cofferos.coffers.mm import MmError
from cofferos.coffers.program import (
    expose_host_program,
    find_interpreter,
    find_program,
    host_program_path,
    real_path,
    through_scripts,
)
from cofferos.coffers.signals import SignalHandlers
from cofferos.coffers.task import FsContext, Process, Task, default_rlimits
from cofferos.errors import ConfigError, ProgramError
from cofferos.isa.elf import ElfImage, parse_program
from cofferos.isa.loader import check_fits, load_image
from cofferos.isa.progfile import open_host_program

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

RANDOM_BYTES = 16  #: AT_RANDOM
COMM_LEN = 15
EXECUTABLE_MODE = 0o755
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Binfmt:
    """Program start in a :class:`~cofferos.coffers.coffer.Coffer` (a part of it)."""

    def default_env(self: Coffer) -> list[str]:
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": self.config.hostname}
        env.update(dict(self.config.env))
        return [f"{key}={value}" for key, value in env.items()]

    def load_program(self: Coffer, task: Task, image: ElfImage, argv: Sequence[str | bytes],
                     envp: Sequence[str | bytes], exe_inode: Inode, exe_path: str,
                     fresh_cpu: bool = True, interp: ElfImage | None = None) -> None:
        """Give ``task`` a new address space holding ``image`` and its program
        interpreter, if it has one (spawn and execve)."""
        if fresh_cpu:
            cpu, mm = self.new_cpu()
        else:
            cpu, mm = task.cpu, task.mm
        proc = load_image(image, mm, argv, envp, execfn=exe_path,
                          random_bytes=self.random_bytes(RANDOM_BYTES), interp=interp)
        for vma in mm.vmas:  # the image was read under a host path: show the coffer's
            if vma.name == image.path:
                vma.name = exe_path
        mm.brk_start = mm.brk = proc.brk_start
        cpu.pc, cpu.sp = proc.entry, proc.stack_pointer
        known = self.block_costs.get(id(exe_inode))
        shared = (self.program_costs.get(self._program_keys.get(id(exe_inode)))  # type: ignore[arg-type]
                  if self.program_costs is not None else None)
        if known is not None and known[1:3] == (exe_inode.mtime_ns, exe_inode.size):
            cpu.counter.load_table(known[3])
        elif shared is not None:  # the same host file, run by another coffer of the run
            cpu.counter.load_table(shared)
        cpu.task = task
        task.cpu, task.mm, task.context = cpu, mm, None
        process = task.process
        process.exe_inode, process.exe_path = exe_inode, exe_path
        process.argv = [a.encode() if isinstance(a, str) else a for a in argv]
        process.envp = [e.encode() if isinstance(e, str) else e for e in envp]
        name = exe_path.rsplit("/", 1)[-1]
        process.comm = name[:COMM_LEN]

    def spawn(self: Coffer, path: str, argv: Sequence[str | bytes] | None = None,
              envp: Sequence[str | bytes] | None = None) -> Task:
        """Start the host executable ``path`` as this coffer's init (or a new orphan).

        The program file must be a regular file no larger than the coffer's largest
        file; its headers are read and checked first, then only its segments. Its
        inode, which reads the host file again only if the guest reads it, is linked
        (immutable) at the path it was started by when that path is free in the
        coffer's tree, so the program can re-execute itself; a dynamically linked
        program's interpreter comes from the coffer's tree. The running guest sees
        only the coffer's own filesystem.
        """
        max_size = min(self.fs.sb.max_file_size, MAX_IMPORT_SIZE)  # read whole
        self._working_directory()  # exists before anything is linked next to it
        with open_host_program(path, max_size) as program:
            image = parse_program(program, path)
            interp = find_interpreter(self.fs, image, self.fs.root, None)
            self._check_memory(path, image, interp)
            exe = self.fs.sb.new_inode(stat.S_IFREG | EXECUTABLE_MODE)
            exe.attach_content_source(HostProgramSource(path, program.size, max_size))
            if self.program_costs is not None:
                self._program_keys[id(exe)] = (os.path.realpath(path), program.size,
                                               os.fstat(program.fd).st_mtime_ns)
            try:
                exe.hold_space()
            except FsError as err:
                raise ProgramError(
                    f"{path}: {os.strerror(err.errno)} on the coffer's disk") from None
            argv = list(argv) if argv is not None else [path]
            exe_path = host_program_path(self.fs, self.config.cwd, path,
                                         os.fsdecode(argv[0]) if argv else "")
            expose_host_program(self.fs, exe, exe_path)
            try:
                return self._spawn_image(image, exe, exe_path, argv, envp, interp)
            except MmError as err:
                raise ProgramError(f"{path}: cannot load: {os.strerror(err.errno)}") from None

    def spawn_inside(self: Coffer, name: str, argv: Sequence[str | bytes] | None = None,
                      envp: Sequence[str | bytes] | None = None) -> Task:
        """Start the program ``name`` of the coffer's own filesystem (a path, or a bare
        name looked up through the guest's PATH), as ``docker run IMAGE NAME`` does; a
        ``#!`` script through its interpreter, as execve runs it."""
        envp = list(envp) if envp is not None else self.default_env()
        where = (f"the image {self.config.image}" if self.config.image is not None
                 else f"the coffer's filesystem (--rootfs {self.config.rootfs})"
                 if self.config.rootfs else "the coffer's filesystem")
        cwd = self._working_directory()
        env = [os.fsdecode(e) for e in envp]
        inode, path = find_program(self.fs, name, cwd, env, where)
        argv = list(argv) if argv is not None else [name]
        inode, path, argv = through_scripts(self.fs, inode, path, argv, cwd, env, where)
        try:
            exe_path = real_path(self.fs, cwd, path)
        except FsError as err:
            raise ProgramError(f"{path}: {os.strerror(err.errno)} in {where}") from None
        try:
            image = parse_program(inode, exe_path)
        except FsError as err:  # the file's bytes could not be read (an image changed)
            raise ProgramError(f"{path}: {os.strerror(err.errno)} reading it") from None
        interp = find_interpreter(self.fs, image, cwd, None)
        self._check_memory(path, image, interp)
        try:
            return self._spawn_image(image, inode, exe_path, argv, envp, interp)
        except MmError as err:
            raise ProgramError(f"{path}: cannot load: {os.strerror(err.errno)}") from None

    def _check_memory(self: Coffer, path: str, image: ElfImage, interp: ElfImage | None) -> None:
        needed = check_fits(image, interp=interp)
        if not self.memory.fits(needed):
            raise ProgramError(f"{path}: needs {needed} bytes of memory, more than the "
                               f"coffer's limit of {self.memory.limit_bytes}")

    def _spawn_image(self: Coffer, image: ElfImage, exe: Inode, exe_path: str,
                     argv: Sequence[str | bytes], envp: Sequence[str | bytes] | None,
                     interp: ElfImage | None) -> Task:
        envp = list(envp) if envp is not None else self.default_env()
        pid = self.alloc_pid()
        process = Process(tgid=pid, parent=None, pgid=pid, sid=pid, handlers=SignalHandlers(),
                          rlimits=default_rlimits(self.config.nofile_limit,
                                                  self.config.nproc_limit),
                          start_ns=self.monotonic_ns())
        files = FdTable(limit=process.rlimits[resource.RLIMIT_NOFILE][0],
                        account=self.descriptor_space)
        for fd, (sink, flags, name) in enumerate(zip(
                self._streams, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY),
                ("<stdin>", "<stdout>", "<stderr>"), strict=True)):
            files.install_at(fd, HostStream(sink, flags, name))
        cwd = self._working_directory()
        cpu, mm = self.new_cpu()
        task = Task(self, pid, process, cpu, mm, files, FsContext(cwd))
        process.threads.append(task)
        try:
            self.load_program(task, image, argv, envp, exe, exe_path, fresh_cpu=False,
                              interp=interp)
        except MmError as err:  # the coffer's (or its kernel's) memory cannot hold it
            pool = self.memory.pool
            shared = f" of the machine's {pool.limit_bytes:,}" if pool is not None else ""
            raise ConfigError(f"{self.config.name}: its program does not fit in the simulated "
                              f"memory it may use ({self.memory.limit_bytes:,} bytes{shared}; "
                              f"{err}): give it more memory or run fewer containers") from None
        self.tasks[pid] = task
        self.processes[pid] = process
        if self.init is None:
            self.init = process
        self.scheduler.enqueue(task)
        return task

    def _working_directory(self: Coffer) -> Inode:
        """The first task's cwd: a directory in the coffer, else a ConfigError."""
        path = self.config.cwd
        try:  # a trailing slash: the last component must be a directory (ENOTDIR)
            return self.fs.lookup(path.rstrip("/") + "/", self.fs.root)
        except FsError as err:
            raise ConfigError(f"working directory {path} (cwd) in the coffer: "
                              f"{os.strerror(err.errno)}") from None
