/* Mounts in a user namespace's own mount namespace, as rootless podman, bwrap and
 * `unshare -r` make them, natively as root and in a coffer. Its only process (so
 * that the coffer, which keeps one mount table, may split the mount namespace):
 * as root, in a private mount namespace, mounts a read-only nosuid tmpfs on
 * "locked"; becomes nobody, which may not mount; makes a user namespace, still
 * without mounts (the mount namespace is the initial user namespace's); then a
 * mount namespace of its own, maps itself to root, and mounts a tmpfs on "mine"
 * (its files root's inside, uid= in its own ids), remounts it read-only and back
 * (the filesystem, and the mount alone), unmounts it. The copied mount "locked"
 * cannot be unmounted, keeps its read-only, nosuid and atime flags, and its
 * filesystem cannot be reconfigured; proc and sysfs are EPERM. */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#define NOBODY 65534

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));
    printf("write %s \"%.*s\": %s\n", path, (int)strcspn(text, "\n"), text,
           n < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0)
        close(fd);
}

static void show_stat(const char *path)
{
    struct stat st, here;
    if (stat(path, &st) < 0 || stat(".", &here) < 0) {
        printf("stat %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    printf("stat %s: uid %u gid %u mode %o, %s\n", path, st.st_uid, st.st_gid,
           st.st_mode & 07777, st.st_dev == here.st_dev ? "not a mount" : "a mount");
}

static void create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    printf("create %s: %s\n", path, fd < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0)
        close(fd);
}

static void as_root(void)
{
    T(unshare(CLONE_NEWNS));
    T(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));  /* nothing reaches the host */
    T(mkdir("locked", 0755));
    T(mkdir("mine", 0755));
    T(mount("none", "locked", "tmpfs", MS_RDONLY | MS_NOSUID, "size=64k"));
}

static void as_nobody(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
        exit(1);
    T(prctl(PR_SET_DUMPABLE, 1));  /* so that it may write its own /proc/self/uid_map */
    T(mount("none", "mine", "tmpfs", 0, NULL));
    T(umount2("locked", 0));
    T(unshare(CLONE_NEWUSER));
    T(mount("none", "mine", "tmpfs", 0, NULL));  /* the mount namespace is not its own */
    T(umount2("locked", 0));
    T(unshare(CLONE_NEWNS));
    write_file("/proc/self/uid_map", "0 65534 1\n");
    write_file("/proc/self/setgroups", "deny\n");
    write_file("/proc/self/gid_map", "0 65534 1\n");
}

static void own_tmpfs(void)
{
    T(mount("none", "mine", "tmpfs", 0, "uid=1000"));  /* not mapped here */
    T(mount("none", "mine", "tmpfs", MS_NOSUID, "size=64k,mode=0750,uid=0,gid=0"));
    show_stat("mine");
    create("mine/f");
    show_stat("mine/f");
    T(mount(NULL, "mine", NULL, MS_REMOUNT | MS_RDONLY, NULL));
    create("mine/g");
    T(mount(NULL, "mine", NULL, MS_REMOUNT, "size=128k"));
    create("mine/g");
    T(mount(NULL, "mine", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOEXEC, NULL));
    create("mine/h");
    T(mount(NULL, "mine", NULL, MS_REMOUNT | MS_BIND, NULL));
    create("mine/h");
    T(mount("none", "mine", "tmpfs", 0, NULL));  /* stacked on its own */
    show_stat("mine/f");
    T(umount2("mine", 0));
    show_stat("mine/f");
    T(umount2("mine", MNT_FORCE));
    T(umount2("mine", 0));
    show_stat("mine");
}

static void copied_mount(void)
{
    show_stat("locked");
    create("locked/f");
    T(umount2("locked", 0));
    T(umount2("locked", MNT_DETACH));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND, NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOATIME,
            NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
            NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL));
    T(mount(NULL, "locked", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, "size=128k"));
    T(mount("none", "locked", "tmpfs", 0, NULL));  /* over it: its own, removable */
    show_stat("locked");
    T(umount2("locked", 0));
    T(umount2("locked", 0));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    as_root();
    as_nobody();
    own_tmpfs();
    copied_mount();
    T(mount("proc", "mine", "proc", 0, NULL));
    T(mount("sysfs", "mine", "sysfs", 0, NULL));
    T(mount("none", "mine", "nosuchfs", 0, NULL));
    return 0;
}
