/* Nested epoll instances: EPOLL_CTL_ADD refuses a loop (ELOOP) and nesting deeper
 * than Linux allows, counted both below the added instance and above the one it
 * is added to; a nesting without a loop (a diamond) is fine. */
#include "check.h"
#include <sys/epoll.h>

#define N 8

static int add(int ep, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void make(int *eps)
{
    for (int i = 0; i < N; i++)
        eps[i] = epoll_create1(EPOLL_CLOEXEC);
}

static void drop(int *eps)
{
    for (int i = 0; i < N; i++)
        close(eps[i]);
}

int main(void)
{
    int e[N];
    char what[64];

    /* Loops. */
    make(e);
    T(add(e[0], e[0]));
    T(add(e[0], e[1]));
    T(add(e[1], e[0]));
    T(add(e[1], e[2]));
    T(add(e[2], e[0]));
    T(add(e[2], e[1]));
    T(add(e[0], e[2])); /* a second path, no loop */
    drop(e);

    /* A chain grown downwards: e[i] watches e[i+1], added top first. */
    make(e);
    for (int i = 0; i + 1 < N; i++) {
        snprintf(what, sizeof what, "down: add(e[%d], e[%d])", i, i + 1);
        show(what, add(e[i], e[i + 1]));
    }
    drop(e);

    /* The same chain grown upwards: bottom first. */
    make(e);
    for (int i = N - 2; i >= 0; i--) {
        snprintf(what, sizeof what, "up: add(e[%d], e[%d])", i, i + 1);
        show(what, add(e[i], e[i + 1]));
    }
    drop(e);

    /* Two chains of three joined in the middle. */
    make(e);
    T(add(e[0], e[1]));
    T(add(e[1], e[2]));
    T(add(e[3], e[4]));
    T(add(e[4], e[5]));
    T(add(e[2], e[3]));
    T(add(e[5], e[6]));
    drop(e);

    /* A diamond: two paths to one instance. */
    make(e);
    T(add(e[0], e[1]));
    T(add(e[0], e[2]));
    T(add(e[1], e[3]));
    T(add(e[2], e[3]));
    T(add(e[3], e[0]));
    drop(e);
    return 0;
}
