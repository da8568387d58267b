/* Shared by the file system call test guests (tests/test_syscalls_files.py).
 * T(call) prints the call's text and its result, or -1 and the errno's name, so
 * that the simulated run can be compared line for line with the native one. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#ifndef __GLIBC__
/* musl has no strerrorname_np: the names of the errnos the guests built against it
 * (tests/procsys/mqueue*.c) meet, so that their lines match glibc's. */
static const char *strerrorname_np(int e)
{
    static const struct { int e; const char *name; } names[] = {
        {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {EINTR, "EINTR"}, {EBADF, "EBADF"},
        {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EFAULT, "EFAULT"},
        {EBUSY, "EBUSY"}, {EEXIST, "EEXIST"}, {EINVAL, "EINVAL"}, {EMFILE, "EMFILE"},
        {ENOSPC, "ENOSPC"}, {ENOSYS, "ENOSYS"}, {ENOTSOCK, "ENOTSOCK"}, {EMSGSIZE, "EMSGSIZE"},
        {ETIMEDOUT, "ETIMEDOUT"}};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].e == e)
            return names[i].name;
    return "E?";
}
#endif

static long show(const char *what, long result)
{
    if (result < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, result);
    fflush(stdout);
    return result;
}

#define T(call) show(#call, (long)(call))
#define BAD_POINTER ((void *)1)
