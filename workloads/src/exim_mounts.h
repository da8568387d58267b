/* exim_mounts.h: the file system layouts mosbench.c's Exim runs on, as MOSBENCH's mkmounts
 * makes them (github.com/KunZheng/mosbench: mkmounts, config.py's fs setting).
 *
 * "tmpfs" is one file system for everything (mkmounts: one tmpfs with per-CPU
 * directories; here ROOT's own file system). "tmpfs-separate", config.py's choice for the
 * published runs, gives the spool, each of its 62 input subdirectories, the mail
 * directory and the log tmpfs mounts of their own: mkmounts mounts spool-N and each
 * spool-N/input/<s> (mode=0755; the msglog subdirectories stay on the spool's), and Exim's
 * mail directory is a per-CPU tmpfs with the mailboxes in its root; its log is in
 * spool-N/log, on the spool's tmpfs, one mount crossed, as the log's own mount is here.
 * So the spool, mailbox and log walks cross mount points and the stand-ins'
 * (/etc/localtime, /var/tmp, /sys/...) do not.
 *
 * Mounting needs CAP_SYS_ADMIN (in a coffer: its root's). The parent first takes a mount
 * namespace of its own with / made recursively private, so the mounts vanish with its
 * processes and never reach the namespace it was started in.
 *
 * Include after the system headers and workers.h (die), with _GNU_SOURCE defined first
 * (unshare). */
#ifndef EXIM_MOUNTS_H
#define EXIM_MOUNTS_H

#include <sched.h>
#include <sys/mount.h>

#define FS_UNIFIED "tmpfs"
#define FS_SEPARATE "tmpfs-separate"
#define TMPFS_OPTIONS "mode=0755" /* mkmounts' (and uid=, gid= of the benchmark user) */

/* A mount namespace of this process's own whose mounts propagate nowhere. */
static void exim_private_mounts(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        die("unshare", "CLONE_NEWNS");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        die("mount", "/ (private)");
}

/* A new tmpfs on the directory path. */
static void exim_tmpfs(const char *path)
{
    if (mount("none", path, "tmpfs", 0, TMPFS_OPTIONS) != 0)
        die("mount", path);
}

#endif
