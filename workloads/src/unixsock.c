/* unixsock: AF_UNIX sockets between a parent and its forked children.
 *
 * Kernel paths: socketpair(AF_UNIX, SOCK_STREAM); socket/bind/listen/accept/
 * connect on a path name under the cwd (the bind creates a socket inode that
 * stat sees as S_IFSOCK, unlink removes it); SOCK_DGRAM sockets bound to
 * abstract names (a leading NUL byte: no file), sendto/recvfrom with the
 * sender's address, message boundaries kept; shutdown(SHUT_WR) read as EOF;
 * fork and wait4.
 *
 *   unixsock [ROUNDS]      ROUNDS defaults to 5
 *
 *   1. socketpair: the parent sends ROUNDS "ping i" messages, the child
 *      answers "pong i" to each.
 *   2. a path-named stream socket "unixsock.sock" in the cwd: the child
 *      connects, sends ROUNDS lines and shuts down its writing side; the
 *      parent echoes them back reversed and closes; the child checks.
 *   3. abstract datagram sockets: the child sends ROUNDS datagrams of
 *      growing length to the parent's name; the parent replies to the
 *      address recvfrom reported; each side checks lengths and contents.
 *
 * Every line printed depends only on ROUNDS. Each child reports with its exit
 * status; the abstract names carry the parent's pid so concurrent native runs
 * do not collide, but the pid is never printed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_ROUNDS 5L
#define MAX_ROUNDS 1000L
#define SOCK_PATH "unixsock.sock"
#define MSG_BYTES 256
#define STREAM_BYTES 16384 /* MAX_ROUNDS lines of "line %ld\n" fit */

static int failures;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static pid_t fork_flushed(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    return pid;
}

/* Wait for a child and return its exit status, or 100 + signal. */
static int reap(pid_t pid) {
    int wstatus;
    if (waitpid(pid, &wstatus, 0) != pid)
        die("waitpid");
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 100 + WTERMSIG(wstatus);
}

static void reverse(char *s, size_t len) {
    for (size_t i = 0; i < len / 2; i++) {
        char c = s[i];
        s[i] = s[len - 1 - i];
        s[len - 1 - i] = c;
    }
}

static void step_socketpair(long rounds) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(sv[0]);
        char msg[MSG_BYTES];
        for (long i = 0; i < rounds; i++) {
            ssize_t n = read(sv[1], msg, sizeof msg - 1);
            if (n <= 0)
                _exit(1);
            msg[n] = '\0';
            long got;
            if (sscanf(msg, "ping %ld", &got) != 1 || got != i)
                _exit(2);
            int len = snprintf(msg, sizeof msg, "pong %ld", i);
            if (write(sv[1], msg, (size_t)len) != len)
                _exit(3);
        }
        _exit(0);
    }
    close(sv[1]);
    long pongs = 0;
    for (long i = 0; i < rounds; i++) {
        char msg[MSG_BYTES], expect[MSG_BYTES];
        int len = snprintf(msg, sizeof msg, "ping %ld", i);
        if (write(sv[0], msg, (size_t)len) != len)
            die("write");
        ssize_t n = read(sv[0], msg, sizeof msg - 1);
        if (n <= 0)
            break;
        msg[n] = '\0';
        snprintf(expect, sizeof expect, "pong %ld", i);
        pongs += strcmp(msg, expect) == 0;
    }
    close(sv[0]);
    int status = reap(pid);
    printf("unixsock: socketpair: %ld pings, %ld pongs, child status %d\n", rounds, pongs,
           status);
    failures += pongs != rounds || status != 0;
}

static void step_path_stream(long rounds) {
    unlink(SOCK_PATH);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, SOCK_PATH);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 1) != 0)
        die("bind " SOCK_PATH);
    struct stat st;
    int is_socket = stat(SOCK_PATH, &st) == 0 && S_ISSOCK(st.st_mode);

    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(listener);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
            _exit(1);
        char sent[STREAM_BYTES] = "";
        size_t total = 0;
        for (long i = 0; i < rounds; i++) {
            char line[64];
            int len = snprintf(line, sizeof line, "line %ld\n", i);
            if (write(fd, line, (size_t)len) != len)
                _exit(2);
            if (total + (size_t)len < sizeof sent) {
                memcpy(sent + total, line, (size_t)len);
                total += (size_t)len;
            }
        }
        shutdown(fd, SHUT_WR);
        char back[sizeof sent];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof back && (n = read(fd, back + got, sizeof back - got)) > 0)
            got += (size_t)n;
        reverse(back, got);
        _exit(got == total && memcmp(back, sent, total) == 0 ? 0 : 3);
    }
    int conn = accept(listener, NULL, NULL);
    if (conn < 0)
        die("accept");
    char data[STREAM_BYTES];
    size_t used = 0;
    ssize_t n;
    while (used < sizeof data && (n = read(conn, data + used, sizeof data - used)) > 0)
        used += (size_t)n;
    long lines = 0;
    for (size_t i = 0; i < used; i++)
        lines += data[i] == '\n';
    reverse(data, used);
    if (write(conn, data, used) != (ssize_t)used)
        die("write");
    close(conn);
    close(listener);
    int status = reap(pid);
    int removed = unlink(SOCK_PATH) == 0;
    printf("unixsock: path socket: is a socket %s, %ld lines (%zu bytes) echoed reversed, "
           "child status %d, unlinked %s\n",
           is_socket ? "yes" : "no", lines, used, status, removed ? "yes" : "no");
    failures += !is_socket || lines != rounds || status != 0 || !removed;
}

/* An abstract address: sun_path starts with NUL; the length says where it ends. */
static socklen_t abstract_addr(struct sockaddr_un *addr, const char *role, long parent) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int len = snprintf(addr->sun_path + 1, sizeof addr->sun_path - 1,
                       "cofferos-unixsock-%ld-%s", parent, role);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
}

static void step_abstract_dgram(long rounds) {
    long parent = (long)getpid();
    struct sockaddr_un server, client;
    socklen_t server_len = abstract_addr(&server, "server", parent);
    socklen_t client_len = abstract_addr(&client, "client", parent);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&server, server_len) != 0)
        die("bind abstract");

    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(fd);
        int me = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (me < 0 || bind(me, (struct sockaddr *)&client, client_len) != 0)
            _exit(1);
        for (long i = 0; i < rounds; i++) {
            char msg[MSG_BYTES];
            size_t len = (size_t)(i + 1) * 10 % (MSG_BYTES - 1) + 1;
            memset(msg, 'a' + (int)(i % 26), len);
            if (sendto(me, msg, len, 0, (struct sockaddr *)&server, server_len) != (ssize_t)len)
                _exit(2);
            char reply[MSG_BYTES];
            ssize_t n = recv(me, reply, sizeof reply, 0);
            if (n != (ssize_t)len || memcmp(reply, msg, len) != 0)
                _exit(3);
        }
        _exit(0);
    }
    long datagrams = 0, bytes = 0, from_client = 0;
    for (long i = 0; i < rounds; i++) {
        char msg[MSG_BYTES];
        struct sockaddr_un from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, msg, sizeof msg, 0, (struct sockaddr *)&from, &from_len);
        if (n < 0)
            die("recvfrom");
        datagrams++;
        bytes += n;
        from_client += from_len == client_len &&
                       memcmp(from.sun_path, client.sun_path, client_len - 2) == 0;
        if (sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&from, from_len) != n)
            die("sendto");
    }
    close(fd);
    int status = reap(pid);
    printf("unixsock: abstract datagrams: %ld received (%ld bytes), %ld from the client's "
           "name, child status %d\n",
           datagrams, bytes, from_client, status);
    failures += datagrams != rounds || from_client != rounds || status != 0;
}

int main(int argc, char **argv) {
    long rounds = DEFAULT_ROUNDS;
    if (argc > 1) {
        char *end;
        rounds = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || rounds < 1 || rounds > MAX_ROUNDS) {
            fprintf(stderr, "usage: %s [rounds 1..%ld]\n", argv[0], MAX_ROUNDS);
            return 2;
        }
    }
    step_socketpair(rounds);
    step_path_stream(rounds);
    step_abstract_dgram(rounds);
    return failures ? 1 : 0;
}
