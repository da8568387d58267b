/* pipeline: waiting on many descriptors at once.
 *
 * Kernel paths: pipe2, fork, poll over two pipes (POLLIN, POLLHUP at EOF, a
 * zero timeout), eventfd2 (counter and EFD_SEMAPHORE, EFD_NONBLOCK -> EAGAIN),
 * timerfd_create/timerfd_settime/timerfd_gettime on CLOCK_MONOTONIC with
 * blocking reads of the expiration count, clock_gettime, epoll_create1,
 * epoll_ctl (ADD/DEL), epoll_wait with a zero and an infinite timeout
 * (woken by a child's write), nanosleep, wait4.
 *
 *   pipeline [LINES]       LINES per child defaults to 5
 *
 *   1. Two children write LINES lines each into their own pipe, at different
 *      paces; the parent polls both until both hang up and prints what came
 *      through each pipe, pipe A first.
 *   2. eventfd: two writes add up in one read; a semaphore eventfd hands out
 *      one at a time; a non-blocking read of zero fails with EAGAIN.
 *   3. timerfd: a 10 ms periodic timer read twice; at least 20 ms passed.
 *   4. epoll over a pipe and an eventfd: nothing ready, one ready, both
 *      ready; then a blocking wait that a child's delayed write ends.
 *
 * Output depends only on LINES: interleaving and timing are never printed.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LINES 5L
#define MAX_LINES 1000L
#define DATA_BYTES 16384
#define TIMER_NS 10000000L /* 10 ms */
#define TIMER_READS 2
#define CHILD_DELAY_NS 5000000L /* 5 ms */
#define TAG_PIPE 1
#define TAG_EVENTFD 2

static int failures;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void check(int ok, const char *what) {
    if (!ok) {
        failures++;
        printf("pipeline: FAILED: %s\n", what);
    }
}

static pid_t fork_flushed(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    return pid;
}

static void pause_ns(long ns) {
    struct timespec delay = {0, ns};
    nanosleep(&delay, NULL);
}

static int exit_status(pid_t pid) {
    int wstatus;
    waitpid(pid, &wstatus, 0);
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 100 + WTERMSIG(wstatus);
}

/* A child that writes `lines` lines "<name><i>\n", `gap_ns` apart, then exits. */
static pid_t writer(int fds[2], char name, long lines, long gap_ns) {
    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(fds[0]);
        for (long i = 0; i < lines; i++) {
            char line[32];
            int len = snprintf(line, sizeof line, "%c%ld\n", name, i);
            if (write(fds[1], line, (size_t)len) != len)
                _exit(1);
            pause_ns(gap_ns);
        }
        _exit(0);
    }
    close(fds[1]);
    return pid;
}

struct stream {
    char name;
    char data[DATA_BYTES];
    size_t used;
    int hangup;
};

static void print_stream(struct stream *s, long lines) {
    long count = 0;
    for (size_t i = 0; i < s->used; i++)
        if (s->data[i] == '\n') {
            s->data[i] = ' ';
            count++;
        }
    if (s->used > 0)
        s->used--; /* drop the trailing separator */
    printf("pipeline: pipe %c: %ld lines [%.*s], hang-up seen %s\n", s->name, count,
           (int)s->used, s->data, s->hangup ? "yes" : "no");
    check(count == lines && s->hangup, "poll streams");
}

static void step_poll(long lines) {
    int a[2], b[2], quiet[2];
    if (pipe(a) || pipe(b) || pipe(quiet))
        die("pipe");
    struct pollfd probe = {.fd = quiet[0], .events = POLLIN};
    int idle = poll(&probe, 1, 0);
    write(quiet[1], "!", 1);
    int ready = poll(&probe, 1, 0);
    printf("pipeline: poll of an empty pipe: %d ready; after a write: %d ready, POLLIN %s\n",
           idle, ready, probe.revents & POLLIN ? "yes" : "no");
    check(idle == 0 && ready == 1 && (probe.revents & POLLIN), "poll timeout 0");
    close(quiet[0]);
    close(quiet[1]);

    pid_t pa = writer(a, 'a', lines, 1000000L);
    pid_t pb = writer(b, 'b', lines, 3000000L);
    struct stream streams[2] = {{.name = 'a'}, {.name = 'b'}};
    struct pollfd fds[2] = {{.fd = a[0], .events = POLLIN}, {.fd = b[0], .events = POLLIN}};
    int open_count = 2;
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            struct stream *s = &streams[i];
            ssize_t n = read(fds[i].fd, s->data + s->used, sizeof s->data - s->used);
            if (n > 0) {
                s->used += (size_t)n;
                continue;
            }
            /* EOF: the pipe's writer is gone, which poll reports as POLLHUP. */
            s->hangup = (fds[i].revents & POLLHUP) != 0;
            close(fds[i].fd);
            fds[i].fd = -1; /* poll ignores negative descriptors */
            open_count--;
        }
    }
    int sa = exit_status(pa), sb = exit_status(pb);
    print_stream(&streams[0], lines);
    print_stream(&streams[1], lines);
    printf("pipeline: writers exited with %d and %d\n", sa, sb);
    check(sa == 0 && sb == 0, "writers");
}

static void step_eventfd(void) {
    int efd = eventfd(0, 0);
    uint64_t value = 3, total = 0;
    write(efd, &value, sizeof value);
    value = 4;
    write(efd, &value, sizeof value);
    read(efd, &total, sizeof total);

    int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    uint64_t first = 0, second = 0, third = 0;
    read(sem, &first, sizeof first);
    read(sem, &second, sizeof second);
    ssize_t n = read(sem, &third, sizeof third);
    int error = errno;
    printf("pipeline: eventfd 3 + 4 read as %llu; semaphore gave %llu then %llu, then %s\n",
           (unsigned long long)total, (unsigned long long)first, (unsigned long long)second,
           n < 0 && error == EAGAIN ? "EAGAIN" : "something else");
    check(total == 7 && first == 1 && second == 1 && n < 0 && error == EAGAIN, "eventfd");
    close(efd);
    close(sem);
}

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void step_timerfd(void) {
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tfd < 0)
        die("timerfd_create");
    struct itimerspec spec = {.it_interval = {0, TIMER_NS}, .it_value = {0, TIMER_NS}};
    int64_t start = monotonic_ns();
    if (timerfd_settime(tfd, 0, &spec, NULL) != 0)
        die("timerfd_settime");
    int good_reads = 0;
    uint64_t expirations = 0;
    for (int i = 0; i < TIMER_READS; i++) {
        uint64_t count = 0;
        good_reads += read(tfd, &count, sizeof count) == sizeof count && count >= 1;
        expirations += count;
    }
    int64_t elapsed = monotonic_ns() - start;
    struct itimerspec off = {0}, now;
    timerfd_settime(tfd, 0, &off, NULL);
    timerfd_gettime(tfd, &now);
    int disarmed = now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0;
    printf("pipeline: timerfd: %d of %d reads saw an expiration, at least %d in all %s, "
           "elapsed >= 20 ms %s, disarmed %s\n",
           good_reads, TIMER_READS, TIMER_READS, expirations >= TIMER_READS ? "yes" : "no",
           elapsed >= (int64_t)TIMER_READS * TIMER_NS ? "yes" : "no", disarmed ? "yes" : "no");
    check(good_reads == TIMER_READS && elapsed >= (int64_t)TIMER_READS * TIMER_NS && disarmed,
          "timerfd");
    close(tfd);
}

/* epoll_wait, then the tags of the ready descriptors in ascending order. */
static int wait_tags(int epfd, int timeout_ms, char *tags, size_t size) {
    struct epoll_event events[4];
    int n = epoll_wait(epfd, events, 4, timeout_ms);
    int mask = 0;
    for (int i = 0; i < n; i++)
        mask |= 1 << events[i].data.u32;
    snprintf(tags, size, "%s%s%s", mask & (1 << TAG_PIPE) ? "pipe " : "",
             mask & (1 << TAG_EVENTFD) ? "eventfd " : "", n == 0 ? "none " : "");
    tags[strlen(tags) - 1] = '\0';
    return n;
}

static void step_epoll(void) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int p[2];
    int efd = eventfd(0, EFD_NONBLOCK);
    if (epfd < 0 || pipe(p) != 0 || efd < 0)
        die("epoll setup");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_PIPE};
    epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev);
    ev.data.u32 = TAG_EVENTFD;
    epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev);

    char none[32], one[32], both[32], woken[32];
    int n0 = wait_tags(epfd, 0, none, sizeof none);
    write(p[1], "x", 1);
    int n1 = wait_tags(epfd, 0, one, sizeof one);
    uint64_t inc = 1;
    write(efd, &inc, sizeof inc);
    int n2 = wait_tags(epfd, 0, both, sizeof both);
    printf("pipeline: epoll: idle %d (%s), after a pipe write %d (%s), after an eventfd "
           "write %d (%s)\n",
           n0, none, n1, one, n2, both);
    check(n0 == 0 && n1 == 1 && n2 == 2, "epoll levels");

    /* Drain both, forget the eventfd, and block until a child writes. */
    char c;
    read(p[0], &c, 1);
    read(efd, &inc, sizeof inc);
    epoll_ctl(epfd, EPOLL_CTL_DEL, efd, NULL);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        pause_ns(CHILD_DELAY_NS);
        _exit(write(p[1], "y", 1) == 1 ? 0 : 1);
    }
    int n3 = wait_tags(epfd, -1, woken, sizeof woken);
    read(p[0], &c, 1);
    int status = exit_status(pid);
    printf("pipeline: epoll: blocking wait woken by a child's write: %d (%s), read '%c', "
           "child status %d\n",
           n3, woken, c, status);
    check(n3 == 1 && c == 'y' && status == 0, "epoll wait");
    close(p[0]);
    close(p[1]);
    close(efd);
    close(epfd);
}

int main(int argc, char **argv) {
    long lines = DEFAULT_LINES;
    if (argc > 1) {
        char *end;
        lines = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || lines < 1 || lines > MAX_LINES) {
            fprintf(stderr, "usage: %s [lines 1..%ld]\n", argv[0], MAX_LINES);
            return 2;
        }
    }
    step_poll(lines);
    step_eventfd();
    step_timerfd();
    step_epoll();
    printf("pipeline: %s\n", failures ? "some steps FAILED" : "all steps passed");
    return failures ? 1 : 0;
}
