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
