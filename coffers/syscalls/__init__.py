"""System calls of the coffer kernel, one module per family, named after Linux's sources.

=============  ====================================================
module         Linux source it mirrors
=============  ====================================================
exit           kernel/exit.c (exit, exit_group, wait4, waitid)
process        kernel/sys.c, arch/x86/kernel/process_64.c (ids, uname, arch_prctl, limits)
time           kernel/time/ (clock_gettime, nanosleep ...)
mmap           mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c
fork           kernel/fork.c (clone, fork, vfork)
exec           fs/exec.c, fs/binfmt_script.c (execve, execveat)
signal         kernel/signal.c, arch/x86/kernel/signal.c, kernel/time/itimer.c
futex          kernel/futex/
pipe           fs/pipe.c
read_write     fs/read_write.c (read, write, readv, writev, pread64, pwrite64, lseek)
open           fs/open.c (open, openat, creat, close, access, chdir, fchdir, umask)
d_path         fs/d_path.c (getcwd)
stat           fs/stat.c (stat, lstat, fstat, newfstatat, statx, readlink)
namei          fs/namei.c (mkdir, rmdir, unlink, rename, link, symlink and *at forms)
readdir        fs/readdir.c (getdents64)
fcntl          fs/fcntl.c, fs/file.c (fcntl, dup, dup2, dup3)
ioctl          fs/ioctl.c (ioctl: FIOCLEX, FIONBIO, FIONREAD; ENOTTY for terminals)
=============  ====================================================

:data:`FAMILIES` lists them in registration order; :func:`table.default_table`
binds each family's handlers into one table. Adding a family is one import here.
"""

from __future__ import annotations

from cofferos.coffers.syscalls import (
    d_path,
    exec,
    exit,
    fcntl,
    fork,
    futex,
    ioctl,
    mmap,
    namei,
    open,
    pipe,
    process,
    read_write,
    readdir,
    signal,
    stat,
    time,
)

FAMILIES = (exit, process, time, mmap,
            read_write, open, d_path, stat, namei, readdir, fcntl, ioctl,
            fork, exec, signal, futex, pipe)
