/* A devpts of its own in a user namespace's mount namespace, as a rootless container
 * mounts one on its /dev/pts: natively as root (then nobody) and in a coffer. Bad
 * options and an unmapped gid= are EINVAL; the new instance numbers its ptys from
 * 0, with its ptmxmode= and mode=; it is busy while a pty is open; one on /dev/pts
 * is what /dev/ptmx opens. */
#include "check.h"
#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#define NOBODY 65534

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));
    printf("write %s: %s\n", path, n < 0 ? strerrorname_np(errno) : "ok");
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
    printf("stat %s: uid %u gid %u mode %o, %s\n", path, st.st_uid, st.st_gid, st.st_mode,
           st.st_dev == here.st_dev ? "not a mount" : "a mount");
}

static void list(const char *path)
{
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    printf("%s:", path);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]->d_name);
        free(names[i]);
    }
    printf("\n");
    free(names);
}

static void mountinfo(const char *name)
{
    char cwd[4096], want[4200], line[8192];
    if (!getcwd(cwd, sizeof cwd))
        return;
    snprintf(want, sizeof want, " %s/%s ", cwd, name);
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *at = strstr(line, want);
        if (at)
            printf("mountinfo: %s", at + strlen(want));
    }
    if (f)
        fclose(f);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWNS));
    T(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));  /* nothing reaches the host */
    T(mkdir("pts", 0755));
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
        return 1;
    T(prctl(PR_SET_DUMPABLE, 1));
    T(unshare(CLONE_NEWUSER | CLONE_NEWNS));
    write_file("/proc/self/uid_map", "0 65534 1\n");
    write_file("/proc/self/setgroups", "deny\n");
    write_file("/proc/self/gid_map", "0 65534 1\n");
    T(mount("devpts", "pts", "devpts", 0, "newinstance,gid=5"));
    T(mount("devpts", "pts", "devpts", 0, "newinstance,bogus"));
    T(mount("devpts", "pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620"));
    show_stat("pts");
    show_stat("pts/ptmx");
    mountinfo("pts");
    list("pts");
    int master = open("pts/ptmx", O_RDWR | O_NOCTTY);
    printf("open pts/ptmx: %s\n", master < 0 ? strerrorname_np(errno) : "ok");
    int n = -1, unlock = 0;
    T(ioctl(master, TIOCGPTN, &n));
    printf("pty number %d\n", n);
    T(ioctl(master, TIOCSPTLCK, &unlock));
    list("pts");
    show_stat("pts/0");
    int slave = open("pts/0", O_RDWR | O_NOCTTY);
    printf("open pts/0: %s\n", slave < 0 ? strerrorname_np(errno) : "ok");
    char buf[16] = "";
    T(write(master, "hi\n", 3));
    T(read(slave, buf, sizeof buf - 1));
    printf("slave read %s", buf);
    T(umount2("pts", 0));
    close(slave);
    close(master);
    T(umount2("pts", 0));
    show_stat("pts");
    /* /dev/ptmx opens the devpts at "pts" beside it: this namespace's own */
    T(mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666"));
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY);
    printf("open /dev/ptmx: %s\n", master < 0 ? strerrorname_np(errno) : "ok");
    T(ioctl(master, TIOCGPTN, &n));
    printf("pty number %d\n", n);
    list("/dev/pts");
    close(master);
    T(umount2("/dev/pts", 0));
    return 0;
}
