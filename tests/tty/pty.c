/* Pseudo-terminals as glibc and CPython use them: posix_openpt, grantpt, unlockpt,
 * ptsname and openpty; the slave's node in /dev/pts; TIOCGPTN, TIOCSPTLCK and
 * TIOCGPTPEER; settings and window size; canonical editing, raw reads, echo and
 * output processing; and the end of either side (EIO, hang-up, POLLHUP). */
#include "check.h"
#include <poll.h>
#include <pty.h>

static int revents(int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* What the master can read, as text with control bytes in hex. An echo crosses two
 * flip buffers natively (master to slave, then the echo back), each moved by a kernel
 * worker, so a single read may catch only part of it, and on a loaded host a worker
 * may run long after the write: read until at least `want` bytes have come (waiting
 * up to SETTLE_MS for each piece), then until the master has been quiet for QUIET_MS,
 * so that a side that sends more than `want` still shows it. `want` only bounds the
 * wait; the bytes printed are the ones read. */
enum { SETTLE_MS = 5000, QUIET_MS = 100 };
static void drain(int master, ssize_t want)
{
    char buf[256];
    int flags = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, flags | O_NONBLOCK);
    struct pollfd p = {master, POLLIN, 0};
    ssize_t n = 0;
    for (;;) {
        int wait = n < want ? SETTLE_MS : QUIET_MS;
        if ((size_t)n >= sizeof buf || poll(&p, 1, wait) != 1 || !(p.revents & POLLIN))
            break;
        ssize_t more = read(master, buf + n, sizeof buf - n);
        if (more <= 0)
            break;
        n += more;
    }
    fcntl(master, F_SETFL, flags);
    printf("master reads %zd:", n);
    for (ssize_t i = 0; i < n; i++)
        printf(buf[i] >= ' ' && buf[i] < 127 ? "%c" : "<%02x>", (unsigned char)buf[i]);
    printf("\n");
}

static void slave_reads(int slave, size_t size)
{
    char buf[256];
    ssize_t n = read(slave, buf, size);
    printf("slave reads %zd:", n);
    for (ssize_t i = 0; i < n; i++)
        printf(buf[i] >= ' ' && buf[i] < 127 ? "%c" : "<%02x>", (unsigned char)buf[i]);
    printf("\n");
}

int main(void)
{
    struct stat st, node;
    struct termios t;
    struct winsize ws = {0};
    int n = -1, lock = 0;
    char name[64];

    /* posix_openpt and friends: the slave is locked until unlockpt */
    int m = T(posix_openpt(O_RDWR | O_NOCTTY));
    T(ioctl(m, TIOCGPTN, &n));
    snprintf(name, sizeof name, "/dev/pts/%d", n);
    T(strcmp(ptsname(m), name));
    T(ioctl(m, TIOCGPTLCK, &lock));
    printf("locked %d\n", lock);
    T(open(name, O_RDWR | O_NOCTTY));          /* locked: EIO */
    T(ioctl(m, TIOCGPTPEER, O_RDWR));          /* locked: EIO */
    T(grantpt(m));
    T(unlockpt(m));
    T(ioctl(m, TIOCGPTLCK, &lock));
    printf("locked %d\n", lock);
    int s = T(open(name, O_RDWR | O_NOCTTY));
    int peer = T(ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    T(fcntl(peer, F_GETFD));
    T(close(ioctl(m, TIOCGPTPEER, O_RDONLY | O_NOCTTY | O_APPEND)));
    T(isatty(m));
    T(isatty(s));
    T(isatty(open("/dev/null", O_RDONLY)));

    /* the slave's node, and what fstat says of each side */
    T(stat(name, &node));
    T(fstat(s, &st));
    printf("slave chr %d major %d same-node %d mode %o gid %d\n", S_ISCHR(st.st_mode),
           major(st.st_rdev), st.st_ino == node.st_ino && st.st_dev == node.st_dev,
           st.st_mode & 07777, st.st_gid == getegid());
    T(fstat(m, &st));
    printf("master chr %d rdev %d:%d\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           minor(st.st_rdev));
    T(strcmp(ttyname(s), name));
    T(access("/dev/pts/ptmx", F_OK));

    /* the settings a new slave has, and the master's view of them */
    T(tcgetattr(s, &t));
    printf("iflag %o oflag %o cflag %o lflag %o vmin %d vintr %d verase %d\n", t.c_iflag,
           t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc[VMIN], t.c_cc[VINTR], t.c_cc[VERASE]);
    T(cfgetospeed(&t) == B38400);
    T(tcgetattr(m, &t));
    printf("via master lflag %o\n", t.c_lflag);

    /* window size: 0 at first, set from either side */
    T(ioctl(s, TIOCGWINSZ, &ws));
    printf("winsize %d %d\n", ws.ws_row, ws.ws_col);
    ws.ws_row = 24; ws.ws_col = 80;
    T(ioctl(m, TIOCSWINSZ, &ws));
    memset(&ws, 0, sizeof ws);
    T(ioctl(s, TIOCGWINSZ, &ws));
    printf("winsize %d %d\n", ws.ws_row, ws.ws_col);

    /* output: ONLCR makes a newline CR LF; a nonblocking master read of nothing */
    T(fcntl(m, F_SETFL, O_NONBLOCK));
    char c;
    T(read(m, &c, 1));                         /* EAGAIN */
    T(fcntl(m, F_SETFL, 0));
    T(write(s, "out\nline\n", 9));
    printf("master poll %x\n", revents(m)); /* (natively, also moves the flip buffer) */
    int q = -1;
    T(ioctl(m, FIONREAD, &q));
    printf("master has %d\n", q);
    drain(m, 11);

    /* canonical input: CR to NL, erase, kill, EOF; echo of each */
    T(write(m, "ab\177c\r", 5));
    T(write(m, "xyz\025ok\n", 7));
    T(write(m, "part", 4));
    printf("slave poll %x\n", revents(s));
    T(write(m, "\004", 1));
    T(write(m, "\004", 1));
    slave_reads(s, 100);
    slave_reads(s, 2);                         /* a line read in two pieces */
    slave_reads(s, 100);
    slave_reads(s, 100);
    slave_reads(s, 100);                       /* the empty line: end of file */
    drain(m, 28);

    /* raw: no echo, no editing, VMIN 0 never waits */
    T(tcgetattr(s, &t));
    cfmakeraw(&t);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    T(tcsetattr(s, TCSANOW, &t));
    slave_reads(s, 10);
    T(write(m, "r\177\r\n\003", 5));
    slave_reads(s, 10);
    T(write(s, "x\ny", 3));
    drain(m, 3);

    /* ISIG in raw mode is off: set canonical again, then ^C flushes (no foreground group) */
    T(tcgetattr(s, &t));
    t.c_lflag |= ICANON | ISIG | ECHO | ECHOCTL;
    t.c_oflag |= OPOST | ONLCR;
    T(tcsetattr(s, TCSAFLUSH, &t));
    T(write(m, "gone\003", 5));
    T(write(m, "kept\n", 5));
    slave_reads(s, 100);
    drain(m, 8);

    /* every slave closed: the master reads EIO and polls POLLHUP */
    T(close(s));
    printf("master poll %x\n", revents(m));
    T(close(peer));
    printf("master poll %x\n", revents(m));
    T(read(m, &c, 1));
    T(access(name, F_OK));                     /* still there: the master is open */

    /* the master closed: the slave is hung up */
    int m2, s2;
    T(openpty(&m2, &s2, NULL, NULL, NULL));
    T(close(m2));
    printf("slave poll %x\n", revents(s2));
    T(read(s2, &c, 1));
    T(write(s2, "x", 1));
    T(close(s2));
    T(close(m));
    T(access(name, F_OK));                     /* gone with its master */

    /* openpty with settings and a size */
    ws.ws_row = 50; ws.ws_col = 132;
    T(tcgetattr(0, &t));                       /* stdin is no terminal */
    memset(&t, 0, sizeof t);
    cfmakeraw(&t);
    T(openpty(&m2, &s2, NULL, &t, &ws));
    memset(&ws, 0, sizeof ws);
    T(ioctl(s2, TIOCGWINSZ, &ws));
    T(tcgetattr(s2, &t));
    printf("winsize %d %d lflag %o\n", ws.ws_row, ws.ws_col, t.c_lflag);
    T(close(m2));
    T(close(s2));
    return 0;
}
