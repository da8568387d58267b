/* User and group ids: set*id, getres*id, setfs*id, groups. Runs as root (natively the
 * tests run as root too); privileges are dropped in a child so the parent stays root. */
#include "check.h"
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/wait.h>

static void ids(const char *when)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("%s: uid %d %d %d gid %d %d %d\n", when, r, e, s, gr, ge, gs);
    fflush(stdout);
}

static void groups(void)
{
    gid_t list[8];
    int n = getgroups(8, list);
    printf("groups (%d):", n);
    for (int i = 0; i < n; i++)
        printf(" %d", list[i]);
    printf("\n");
    fflush(stdout);
}

int main(void)
{
    ids("start");
    T(getuid());
    T(geteuid());
    T(getgid());
    T(getegid());
    T(getresuid(BAD_POINTER, BAD_POINTER, BAD_POINTER));
    pid_t child = fork();
    if (child == 0) {
        gid_t set[] = {30, 10, 20};
        T(setgroups(3, set));
        groups();
        gid_t few[1];
        T(getgroups(1, few));
        T(getgroups(0, NULL));
        T(getgroups(-1, few));
        T(setgroups(-1, set));
        T(setuid(-1));
        T(setgid(-1));
        T(setresgid(100, 200, 300));
        ids("setresgid");
        T(setregid(-1, 300));
        ids("setregid");
        T(setfsgid(-1));
        T(setfsgid(77));
        T(setfsgid(-1));
        T(setresuid(1000, 2000, 3000));
        ids("setresuid");
        T(setfsuid(-1));
        /* unprivileged from here */
        T(setuid(3000));
        ids("setuid saved");
        T(setuid(5));
        T(seteuid(1000));
        ids("seteuid real");
        T(setreuid(2000, -1));
        T(setreuid(-1, 3000));
        ids("setreuid");
        T(setresuid(-1, 9, -1));
        T(setresuid(3000, 1000, 1000));
        ids("setresuid unprivileged");
        T(setfsuid(3000));
        T(setfsuid(-1));
        T(setfsuid(42));
        T(setfsuid(-1));
        T(setgroups(0, NULL));
        T(setgid(200));
        T(setgid(5));
        T(setresgid(-1, -1, 100));
        ids("end");
        T(setuid(0));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    ids("parent after");
    T(setreuid(0, 0));
    T(setuid(0));
    return 0;
}
