/* Set-user-ID and set-group-ID programs: root copies this very program into the cwd,
 * gives the copies away with the set-ID bits, and a child running as nobody executes
 * them; each copy prints the ids it runs with. Needs root, and a cwd not mounted
 * nosuid (the test skips otherwise). Prints every result; cleans up after itself. */
#include "check.h"
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define NOBODY 65534
#define STAFF 100

static void copy_self(const char *path, int mode, uid_t uid, gid_t gid)
{
    char buf[65536];
    int in = open("/proc/self/exe", O_RDONLY), out = open(path, O_CREAT | O_WRONLY, 0700);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    if (in < 0 || out < 0 || fchown(out, uid, gid) || fchmod(out, mode)) {
        perror(path);
        exit(1);
    }
    close(in);
    close(out);
}

static int show_ids(void)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &head, data);
    printf("  uid %d %d %d gid %d %d %d fsuid %d caps %s dumpable %d\n", r, e, s, gr, ge,
           gs, setfsuid(-1), data[0].effective ? "some" : "none",
           prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    return 0;
}

static void run_prog(const char *path)
{
    printf("exec %s\n", path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)path, "show", NULL};
        execve(path, argv, NULL);
        printf("  execve = -1 %s\n", strerrorname_np(errno));
        fflush(stdout);
        _exit(1);
    }
    int status;
    waitpid(pid, &status, 0);
}

static void as_nobody(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
        perror("nobody");
        exit(1);
    }
    run_prog("./plain");
    run_prog("./suid_root");
    run_prog("./sgid_staff");
    run_prog("./sgid_noexec");
    run_prog("./suid_nobody");
    T(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    run_prog("./suid_root");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "show"))
        return show_ids();
    if (mkdir("s", 0755) || chdir("s")) {
        perror("s");
        return 1;
    }
    copy_self("plain", 0755, 0, 0);
    copy_self("suid_root", 04755, 0, 0);
    copy_self("sgid_staff", 02755, 0, STAFF);
    copy_self("sgid_noexec", 02745, 0, STAFF);
    copy_self("suid_nobody", 04755, NOBODY, 0);
    printf("root:\n");
    show_ids();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        as_nobody();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    /* root running a program of nobody's becomes nobody, and loses its capabilities */
    run_prog("./suid_nobody");
    const char *names[] = {"plain", "suid_root", "sgid_staff", "sgid_noexec", "suid_nobody"};
    for (int i = 0; i < 5; i++)
        unlink(names[i]);
    if (chdir("..") || rmdir("s"))
        return 1;
    return 0;
}
