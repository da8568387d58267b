"""System calls of the coffer kernel, one module per family, named after Linux's sources.

=============  ====================================================
module         Linux source it mirrors
=============  ====================================================
exit           kernel/exit.c (exit, exit_group, wait4, waitid)
process        kernel/sys.c, arch/x86/kernel/process_64.c (pids, uname, arch_prctl, limits,
               getpriority, setpriority, getcpu, prctl)
cred           kernel/sys.c, kernel/groups.c (get/set uid, gid, res*id, fs*id; groups)
capability     kernel/capability.c (capget, capset)
rusage         kernel/sys.c (getrusage, times, sysinfo)
sched          kernel/sched/syscalls.c (sched_yield, affinity, policy and priority)
time           kernel/time/ (clock_gettime, nanosleep ...)
mmap           mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c, mm/msync.c
fork           kernel/fork.c (clone, fork, vfork)
exec           fs/exec.c, fs/binfmt_script.c (execve, execveat)
exec_domain    kernel/exec_domain.c (personality)
signal         kernel/signal.c, arch/x86/kernel/signal.c, kernel/time/itimer.c
futex          kernel/futex/
futex_waitv    kernel/futex/syscalls.c (futex_waitv)
pipe           fs/pipe.c
read_write     fs/read_write.c (read, write, readv, writev, pread64, pwrite64, lseek)
copy_range     fs/read_write.c (sendfile, copy_file_range)
read_write_vec fs/read_write.c (preadv, pwritev, preadv2, pwritev2)
splice         fs/splice.c (splice)
pidfd          kernel/pid.c, kernel/signal.c (pidfd_open, pidfd_send_signal)
open           fs/open.c (open, openat, creat, close, access, chdir, fchdir, umask,
               truncate, ftruncate, fallocate)
attr           fs/open.c, fs/attr.c (chmod, fchmod, fchmodat, chown, fchown, lchown ...)
utimes         fs/utimes.c (utimensat, utimes, futimesat, utime)
sync           fs/sync.c (sync, syncfs, fsync, fdatasync, sync_file_range)
statfs         fs/statfs.c (statfs, fstatfs)
flock          fs/locks.c (flock; fcntl's F_GETLK, F_SETLK, F_SETLKW, F_OFD_*)
fadvise        mm/fadvise.c (fadvise64)
memfd          mm/memfd.c (memfd_create)
shm            ipc/shm.c (shmget, shmat, shmdt, shmctl)
mqueue         ipc/mqueue.c (mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify,
               mq_getsetattr)
d_path         fs/d_path.c (getcwd)
stat           fs/stat.c (stat, lstat, fstat, newfstatat, statx, readlink)
namei          fs/namei.c (mkdir, mknod, rmdir, unlink, rename, link, symlink and *at forms)
namespace      fs/namespace.c (mount of tmpfs: new mounts, remounts, propagation)
umount         fs/namespace.c (umount2)
nsproxy        kernel/fork.c, kernel/nsproxy.c, kernel/sys.c (unshare, sethostname,
               setdomainname)
setns          kernel/nsproxy.c (setns, with /proc/PID/ns files and pidfds)
readdir        fs/readdir.c (getdents64)
fcntl          fs/fcntl.c, fs/file.c (fcntl, dup, dup2, dup3)
ioctl          fs/ioctl.c (ioctl: FIOCLEX, FIONBIO, FIONREAD; ENOTTY for terminals)
socket         net/socket.c (socket, socketpair, bind, listen, accept, connect, send/recv ...)
select         fs/select.c (poll, ppoll, select, pselect6)
eventfd        fs/eventfd.c (eventfd, eventfd2)
timerfd        fs/timerfd.c (timerfd_create, timerfd_settime, timerfd_gettime)
xattr          fs/xattr.c (setxattr, getxattr, listxattr, removexattr; l* and f* forms)
eventpoll      fs/eventpoll.c (epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait)
=============  ====================================================

:data:`FAMILIES` lists them in registration order; :func:`table.default_table`
binds each family's handlers into one table. Adding a family is one import here.
"""

from __future__ import annotations

from cofferos.coffers.syscalls import (
    attr,
    capability,
    copy_range,
    cred,
    d_path,
    eventfd,
    eventpoll,
    exec,
    exec_domain,
    exit,
    fadvise,
    fcntl,
    flock,
    fork,
    futex,
    futex_waitv,
    ioctl,
    memfd,
    mmap,
    mqueue,
    namei,
    namespace,
    nsproxy,
    open,
    pidfd,
    pipe,
    process,
    read_write,
    read_write_vec,
    readdir,
    rusage,
    sched,
    select,
    setns,
    shm,
    signal,
    socket,
    splice,
    stat,
    statfs,
    sync,
    time,
    timerfd,
    umount,
    utimes,
    xattr,
)

FAMILIES = (exit, process, cred, capability, rusage, sched, time, mmap,
            read_write, read_write_vec, copy_range, open, attr, utimes, sync, statfs, d_path,
            stat, namei, readdir, fcntl, flock, namespace, umount, nsproxy, setns, ioctl, fadvise,
            memfd, xattr, shm, mqueue, fork, exec, exec_domain, signal, futex, futex_waitv, pipe,
            splice, socket, select, eventfd, timerfd, eventpoll, pidfd)
