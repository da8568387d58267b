/* User pointers as Linux checks them: the kernel reads and writes guest memory only
 * where the guest itself could. Buffers in a PROT_NONE page or an unmapped page give
 * EFAULT; a PROT_READ page may be read from (write(2)) but not written to (read(2),
 * stat, clock_gettime...); a buffer that runs from a good page into a bad one moves
 * the bytes before the bad page (a short count), as Linux's page-by-page copies do.
 * Printed the same natively and in a coffer (tests/test_syscalls_misc.py). */
#include "../syscalls_files/check.h"
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>

#define PAGE 4096

static char *read_only_word;
static volatile long thread_tid;

/* A thread whose clear_child_tid is a read-only word: at its exit the kernel's
 * put_user there fails and is ignored; the word keeps its bytes. */
static void *exit_on_read_only_tid(void *unused) {
    (void)unused;
    thread_tid = syscall(SYS_gettid);
    syscall(SYS_set_tid_address, read_only_word);
    return NULL;
}

int main(void)
{
    /* [rw][none] [ro] [unmapped]: a readable-writable page followed by a PROT_NONE one,
     * a read-only page holding "readonly", and a hole. */
    char *area = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *rw = area, *none = area + PAGE, *ro = area + 2 * PAGE, *hole = area + 3 * PAGE;
    memcpy(ro, "readonly", 8);
    memset(rw, 'w', PAGE);
    mprotect(none, PAGE, PROT_NONE);
    mprotect(ro, PAGE, PROT_READ);
    munmap(hole, PAGE);

    int p[2], sv[2];
    T(pipe2(p, O_NONBLOCK));  /* a mismatch shows as EAGAIN, not a hang */
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    int zero = open("/dev/zero", O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    char buf[64];

    puts("-- write(2) and friends read the buffer");
    T(write(p[1], none, 8));
    T(write(p[1], hole, 8));
    T(write(null, none, 8));
    T(write(p[1], ro, 8));
    T(read(p[0], buf, 8));
    printf("read back: %.8s\n", buf);
    T(write(p[1], rw + PAGE - 16, 32));  /* runs into the PROT_NONE page */
    T(read(p[0], buf, sizeof buf));
    T(pwrite(null, none, 8, 0));
    T(send(sv[0], none, 8, 0));
    T(sendto(sv[0], hole, 8, 0, NULL, 0));
    struct iovec bad_base[] = {{ro, 4}, {none, 4}};
    T(writev(p[1], bad_base, 1));
    T(read(p[0], buf, 4));
    T(writev(p[1], (struct iovec *)none, 1));
    T(writev(p[1], bad_base + 1, 1));

    puts("-- read(2) and friends write the buffer");
    T(write(p[1], "12345678", 8));
    T(read(p[0], ro, 8));
    T(read(p[0], none, 8));
    T(read(p[0], hole, 8));
    T(read(p[0], buf, 8));  /* the bytes are still in the pipe */
    printf("still there: %.8s\n", buf);
    printf("ro page: %.8s\n", ro);
    T(read(zero, rw + PAGE - 16, 32));  /* short: stops at the PROT_NONE page */
    T(pread(zero, ro, 8, 0));
    T(pread(zero, none, 8, 0));
    struct iovec into_ro[] = {{ro, 8}};
    T(readv(zero, into_ro, 1));
    T(readv(zero, (struct iovec *)hole, 1));
    T(write(sv[0], "abcd", 4));
    T(recv(sv[1], ro, 4, 0));
    T(recv(sv[1], none, 4, 0));
    T(recv(sv[1], buf, 4, 0));
    T(recvfrom(sv[1], none, 4, MSG_DONTWAIT, NULL, NULL));

    puts("-- results written to the guest");
    T(stat("/", (struct stat *)ro));
    T(stat("/", (struct stat *)none));
    T(fstat(zero, (struct stat *)hole));
    T(stat(none, (struct stat *)buf));
    T(open(none, O_RDONLY));
    T(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, ro));
    T(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, none));
    T(syscall(SYS_gettimeofday, ro, NULL));
    T(syscall(SYS_uname, ro));
    T(syscall(SYS_getcwd, ro, PAGE));  /* room for any cwd: the copy is what fails */
    T(syscall(SYS_getrandom, ro, 8, 0));
    T(syscall(SYS_getrandom, rw, 8, 0));
    T(syscall(SYS_pipe2, ro, 0));
    T(syscall(SYS_getrlimit, RLIMIT_NOFILE, ro));
    T(syscall(SYS_nanosleep, none, NULL));
    struct timespec tiny = {0, 1};
    T(syscall(SYS_nanosleep, &tiny, ro));

    puts("-- signal masks");
    T(syscall(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, 8));
    T(syscall(SYS_rt_sigprocmask, SIG_SETMASK, hole, NULL, 8));
    T(syscall(SYS_rt_sigprocmask, SIG_SETMASK, ro, NULL, 8));  /* reading a mask from ro is fine */
    T(syscall(SYS_rt_sigprocmask, SIG_SETMASK, NULL, ro, 8));
    sigset_t empty;
    sigemptyset(&empty);
    T(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, 8));
    T(syscall(SYS_rt_sigsuspend, none, 8));
    T(syscall(SYS_rt_sigsuspend, hole, 8));
    T(syscall(SYS_rt_sigaction, SIGUSR1, none, NULL, 8));
    T(syscall(SYS_rt_sigaction, SIGUSR1, NULL, ro, 8));
    T(syscall(SYS_rt_sigpending, ro, 8));

    puts("-- futex");
    T(syscall(SYS_futex, none, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    T(syscall(SYS_futex, hole, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    T(syscall(SYS_futex, none, FUTEX_WAIT, 0, NULL, NULL, 0));
    T(syscall(SYS_futex, ro, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));  /* readable: EAGAIN */
    T(syscall(SYS_futex, none, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)); /* no access: 0 */

    puts("-- polling");
    T(poll((struct pollfd *)none, 1, 0));
    T(select(4, (fd_set *)none, NULL, NULL, &(struct timeval){0, 0}));
    T(syscall(SYS_select, 4, NULL, NULL, NULL, none));

    puts("-- thread ids");
    read_only_word = ro;
    pthread_t thread;
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &detached, exit_on_read_only_tid, NULL);
    while (!thread_tid || syscall(SYS_tgkill, getpid(), thread_tid, 0) == 0)
        sched_yield();
    printf("clear_child_tid on a read-only word: %.8s\n", ro);

    printf("ro page at the end: %.8s\n", ro);
    return 0;
}
