/* mosbench: MOSBENCH's Exim benchmark as one binary: its SMTP load generator and an
 * Exim-like server that spools, delivers and logs each message.
 *
 * usage: mosbench exim [WORKERS [MESSAGES [ROOT [FS]]]]
 *        defaults 1 worker, 50, /tmp/mosbench, tmpfs
 *
 * Written from the description of the Exim workload in Boyd-Wickizer et al., "An
 * Analysis of Linux Scalability to Many Cores" (OSDI 2010) and from MOSBENCH's own
 * Exim setup (github.com/KunZheng/mosbench, exim/): its load generator (smtpbm.c, run
 * by run-smtpbm on the machine under test, one client per core or more), its build
 * (the Makefile's exim-mod flags: MOSBENCH_WAIT_DELIVERY, the receiving process waits
 * for each delivery it forks; MOSBENCH_SPLIT_BY_PID, the split spool directory chosen
 * by the receiving process's id) and its configure.tmpl (deliver_drop_privilege: no
 * exec; split_spool_directory; the first router, virtual_user, accepts every address
 * @mosbench.org, which is every recipient smtpbm sends to, for the local_delivery
 * transport: an append to MAIL_DIR/$local_part, which must exist, without a lock file).
 * Each worker is one smtpbm client, the Exim daemon's side of its connections, and the
 * processes those fork:
 *
 *   client (smtpbm): connects to the worker's port on 127.0.0.1 (TCP_NODELAY) and, per connection,
 *     reads the greeting, sends HELO, then for each of 10 messages MAIL FROM, RCPT TO
 *     and DATA (each answered) and the message's five lines ending with "." (one write
 *     a line), reads the 250 and marks the message; QUIT, close
 *   daemon: accepts each connection and forks its receiving process, then reaps it
 *   receiving process: answers the SMTP commands (its input read in buffers, as
 *     Exim's smtp_getc); at each message's end creates ROOT/spool/input/<s>/<id>-D, writes
 *     the body, fsyncs, closes; creates ROOT/spool/input/<s>/hdr.<id>, writes the header,
 *     fsyncs, closes, renames it to <id>-H; logs "<=" to ROOT/log/mainlog (one log for
 *     all); answers 250; forks the delivery process and waits for it. <s> is one of 62
 *     subdirectories, by the receiving process's id
 *   delivery process: reads <id>-H and <id>-D, creates its message log
 *     ROOT/spool/msglog/<s>/<id> and journal ROOT/spool/input/<s>/<id>-J (each written and
 *     fsynced); routes (virtual_user: no lookup file); forks the transport process, which
 *     stats and lstats the mailbox ROOT/mail/<worker> and appends the message to it; logs
 *     "=>" and "Completed"; unlinks the journal, <id>-D, <id>-H and the message log
 *
 * What real Exim does beyond that, measured on Debian's Exim 4.96 under MOSBENCH's settings
 * (exim_work.h, which says how): each process spins for the user-space instructions the
 * real one executes beyond this loop's own (receiving 278,765 a message, delivery 324,699,
 * transport 184,287), and makes the name lookups it makes that the steps above do not:
 * stats of /etc/localtime, the main log and /var/tmp, lookups of absent names (the retry
 * hints db and Berkeley DB's DB_CONFIG, the journal before its creation), opens of the
 * db's lockfile and of /sys/devices/system/cpu/online, statfs of spool and log, an
 * fsync of the spool subdirectory after the rename, the transport's chdir("/"),
 * stat of each of the mailbox's ancestors and utime of the mailbox. Those names are
 * stand-ins under ROOT (ROOT/etc/localtime, ...), made by the parent, shared by all.
 *
 * FS lays the file systems out as MOSBENCH's mkmounts does (exim_mounts.h): "tmpfs" or
 * "tmpfs-separate", its published runs' choice.
 *
 * As @fxmark and @wis: the parent prepares ROOT, forks the workers, releases them
 * together (end-of-file on a pipe) and waits; each client marks every message answered
 * 250 on /dev/coffer/ops with its label "w<worker>" if that device exists. The summary
 * line depends only on the arguments.
 */
#define _GNU_SOURCE /* unshare (exim_mounts.h) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#define WORKLOAD_NAME "mosbench"
#include "workers.h"

#define DEFAULT_ROOT "/tmp/mosbench"
#define DEFAULT_WORKERS 1L
#define DEFAULT_MESSAGES 50L
#define MAX_WORKERS 1024L
#define DIR_MODE 0755
#define FILE_MODE 0600
#define READ_CHUNK 4096
#define SMTP_BUFFER 8192        /* Exim's smtp_getc reads its input in buffers this size */
#define LINE_MAX_BYTES 512      /* smtpbm's line buffer */
#define MESSAGES_PER_CONNECTION 10 /* smtpbm's do1: 10 messages, then QUIT */
#define SPOOL_SUBDIRS 62        /* split_spool_directory: 0-9, A-Z, a-z */
#define LISTEN_BACKLOG 8
#define BODY "Subject: mosbench\n\nA short message, as MOSBENCH's clients send.\n"

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static const char *root;
static long workers, messages;
static int start_pipe[2];
static char subdir[2]; /* the receiving process's spool subdirectory */

#include "exim_work.h"
#include "exim_mounts.h"

/* Write all of text to path, opened with flags (a new spool file or an append); fsync
 * it first if sync. A NULL text opens path read-only (a directory, to fsync it). */
static void put(const char *path, int flags, const char *text, int sync)
{
    int fd = open(path, flags | (text ? O_WRONLY : 0) | O_CLOEXEC, FILE_MODE);
    size_t len = text ? strlen(text) : 0;
    if (fd < 0)
        die("open", path);
    if (text && write(fd, text, len) != (ssize_t)len)
        die("write", path);
    if (sync && fsync(fd) != 0)
        die("fsync", path);
    if (close(fd) != 0)
        die("close", path);
}

/* Read path through (a spool file); it must exist. */
static void slurp(const char *path)
{
    char buf[READ_CHUNK];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        ;
    if (got < 0)
        die("read", path);
    close(fd);
}

static void logline(long w, long i, const char *what)
{
    char path[PATH_MAX], line[128];
    snprintf(path, sizeof path, "%s/log/mainlog", root);
    snprintf(line, sizeof line, "%ld-%ld %s\n", w, i, what);
    put(path, O_CREAT | O_APPEND, line, 0);
}

/* The local_delivery transport, in its own process: appendfile stats and lstats the
 * mailbox (file_must_exist) and appends the message. */
static void transport(long w)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/mail/%ld", root, w);
    if (chdir("/") != 0)
        die("chdir", "/");
    exim_stat(root, LOCALTIME, TRANSPORT_LOCALTIME_STATS);
    exim_stat_ancestors(path);
    if (stat(path, &st) != 0 || lstat(path, &st) != 0)
        die("stat", path);
    put(path, O_APPEND, BODY, 0);
    if (utime(path, NULL) != 0)
        die("utime", path);
    exim_user_work(SPIN(EXIM_TRANSPORT_INSNS, LOOP_TRANSPORT_INSNS));
    exim_touch(0, EXIM_TRANSPORT_FAULTS - LOOP_TRANSPORT_FAULTS);
}

static void run_child(void (*body)(long, long), long w, long i, const char *what)
{
    int status;
    pid_t child = fork();
    if (child < 0)
        die("fork", what);
    if (child == 0) {
        body(w, i);
        _exit(0);
    }
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
        die(what, "child");
}

static void transport_child(long w, long i) { (void)i; transport(w); }

/* One delivery, in the process the receiving process forked for it. */
static void deliver(long w, long i)
{
    char data[PATH_MAX], header[PATH_MAX], msglog[PATH_MAX], journal[PATH_MAX];
    snprintf(data, sizeof data, "%s/spool/input/%s/%ld-%ld-D", root, subdir, w, i);
    snprintf(header, sizeof header, "%s/spool/input/%s/%ld-%ld-H", root, subdir, w, i);
    snprintf(msglog, sizeof msglog, "%s/spool/msglog/%s/%ld-%ld", root, subdir, w, i);
    snprintf(journal, sizeof journal, "%s/spool/input/%s/%ld-%ld-J", root, subdir, w, i);
    slurp(header);
    slurp(data);
    exim_stat(root, LOCALTIME, DELIVER_LOCALTIME_STATS);
    exim_stat(root, MAINLOG, DELIVER_LOG_STATS);
    exim_stat(root, TMPDIR, DELIVER_TMPDIR_STATS);
    exim_absent(root, HINTS_DB, DELIVER_HINTS_STATS);
    exim_open(root, HINTS_LOCK, O_RDWR | O_CREAT, DELIVER_HINTS_OPENS);
    exim_absent(root, DB_CONFIG, DELIVER_DB_CONFIG_OPENS);
    exim_open(root, CPU_ONLINE, O_RDONLY, DELIVER_CPU_ONLINE_OPENS);
    exim_user_work(SPIN(EXIM_DELIVER_INSNS, LOOP_DELIVER_INSNS));
    exim_touch(0, EXIM_DELIVER_FAULTS - LOOP_DELIVER_FAULTS);
    put(msglog, O_CREAT | O_EXCL, "delivering\n", 1);
    exim_absent(journal, "", DELIVER_JOURNAL_PROBES);
    put(journal, O_CREAT | O_EXCL, "user\n", 1);
    run_child(transport_child, w, i, "transport");
    logline(w, i, "=> user Completed");
    const char *const done[] = {journal, data, header, msglog};
    for (size_t k = 0; k < sizeof done / sizeof *done; k++)
        if (unlink(done[k]) != 0)
            die("unlink", done[k]);
}

/* One message's spool files and arrival log line (receive_msg). */
static void spool(long w, long i)
{
    char data[PATH_MAX], temp[PATH_MAX], header[PATH_MAX];
    snprintf(data, sizeof data, "%s/spool/input/%s/%ld-%ld-D", root, subdir, w, i);
    snprintf(temp, sizeof temp, "%s/spool/input/%s/hdr.%ld-%ld", root, subdir, w, i);
    snprintf(header, sizeof header, "%s/spool/input/%s/%ld-%ld-H", root, subdir, w, i);
    put(data, O_CREAT | O_EXCL, BODY, 1);
    put(temp, O_CREAT | O_EXCL, "From: mosbench\nTo: user\n", 1);
    if (rename(temp, header) != 0)
        die("rename", temp);
    char dir[PATH_MAX]; /* the rename made durable: the directory fsynced */
    snprintf(dir, sizeof dir, "%s/spool/input/%s", root, subdir);
    put(dir, O_RDONLY | O_DIRECTORY, NULL, 1);
    exim_check_space(root);
    exim_stat(root, LOCALTIME, RECEIVE_LOCALTIME_STATS);
    exim_stat(root, MAINLOG, RECEIVE_LOG_STATS);
    logline(w, i, "<= mosbench");
    exim_user_work(SPIN(EXIM_RECEIVE_INSNS, LOOP_RECEIVE_INSNS));
    long pages = EXIM_RECEIVE_FAULTS - LOOP_RECEIVE_FAULTS; /* the connection's, */
    long share = pages / MESSAGES_PER_CONNECTION, nth = i % MESSAGES_PER_CONNECTION;
    exim_touch(nth * share, nth == MESSAGES_PER_CONNECTION - 1 ? pages - nth * share : share);
}

/* -- SMTP: a line reader over a buffer, as Exim's smtp_getc; replies one write each -- */

struct reader {
    int fd;
    char buf[SMTP_BUFFER];
    size_t pos, len;
};

/* The next line from r (its CR LF dropped) into line; 0 at end of file. */
static int read_line(struct reader *r, char *line, size_t room)
{
    size_t n = 0;
    for (;;) {
        if (r->pos == r->len) {
            ssize_t got = read(r->fd, r->buf, sizeof r->buf);
            if (got < 0)
                die("read", "smtp");
            if (got == 0)
                return 0;
            r->pos = 0;
            r->len = (size_t)got;
        }
        char c = r->buf[r->pos++];
        if (c == '\n')
            break;
        if (c != '\r' && n + 1 < room)
            line[n++] = c;
    }
    line[n] = '\0';
    return 1;
}

static void say(int fd, const char *text)
{
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        die("write", "smtp");
}

static void expect(struct reader *r, char *line, const char *command)
{
    if (!read_line(r, line, LINE_MAX_BYTES) || strncmp(line, command, strlen(command)) != 0)
        die("smtp: expected", command);
}

/* The receiving process of one connection (daemon.c handle_smtp_call): messages
 * first .. first + count - 1 of worker w, each spooled, answered and delivered. */
static void receive(int fd, long w, long first)
{
    struct reader r = {.fd = fd};
    char line[LINE_MAX_BYTES];
    subdir[0] = BASE62[getpid() % SPOOL_SUBDIRS];
    say(fd, "220 mosbench ESMTP\r\n");
    expect(&r, line, "HELO");
    say(fd, "250 mosbench\r\n");
    for (long i = first;; i++) {
        if (!read_line(&r, line, sizeof line))
            die("smtp", "end of file");
        if (strncmp(line, "QUIT", 4) == 0)
            break;
        if (strncmp(line, "MAIL", 4) != 0)
            die("smtp: expected", "MAIL");
        say(fd, "250 OK\r\n");
        expect(&r, line, "RCPT");
        say(fd, "250 Accepted\r\n");
        expect(&r, line, "DATA");
        say(fd, "354 Enter message, ending with \".\"\r\n");
        do
            if (!read_line(&r, line, sizeof line))
                die("smtp", "end of data");
        while (strcmp(line, ".") != 0);
        spool(w, i);
        say(fd, "250 OK\r\n");
        run_child(deliver, w, i, "deliver"); /* MOSBENCH_WAIT_DELIVERY */
    }
    say(fd, "221 closing connection\r\n");
}

/* smtpbm's xwrite and xread: one line a write; a reply must start with code's digit. */
static void send_line(int fd, const char *text)
{
    char buf[LINE_MAX_BYTES];
    int len = snprintf(buf, sizeof buf, "%s\r\n", text);
    if (write(fd, buf, (size_t)len) != len)
        die("write", "client");
}

static void reply(struct reader *r, char code)
{
    char line[LINE_MAX_BYTES];
    if (!read_line(r, line, sizeof line) || line[0] != code)
        die("client: reply", line);
}

/* The load generator of worker w (smtpbm's do1, repeated until all its messages). */
static void client(long w, const struct sockaddr_in *addr)
{
    char rcpt[LINE_MAX_BYTES], to[LINE_MAX_BYTES], byte;
    snprintf(rcpt, sizeof rcpt, "RCPT TO:<%ld@mosbench.org>", w);
    snprintf(to, sizeof to, "To: %ld@mosbench.org", w);
    if (read(start_pipe[0], &byte, 1) != 0) /* end of file: every worker is ready */
        die("read", "start pipe");
    for (long sent = 0; sent < messages;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), yes = 1;
        if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes) != 0 ||
            connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0)
            die("connect", "client");
        struct reader r = {.fd = fd};
        reply(&r, '2');
        send_line(fd, "HELO smtpbm.foo.edu");
        reply(&r, '2');
        for (int k = 0; k < MESSAGES_PER_CONNECTION && sent < messages; k++, sent++) {
            send_line(fd, "MAIL FROM:<mosbench@mosbench.org>");
            reply(&r, '2');
            send_line(fd, rcpt);
            reply(&r, '2');
            send_line(fd, "DATA");
            reply(&r, '3');
            send_line(fd, "From: mosbench@mosbench.org");
            send_line(fd, to);
            send_line(fd, "");
            send_line(fd, "the body");
            send_line(fd, ".");
            reply(&r, '2');
            mark(w);
        }
        send_line(fd, "QUIT");
        reply(&r, '2');
        close(fd);
    }
}

/* Worker w: the daemon's side of its client's connections, forking a receiving
 * process for each and reaping it; the client is its own process. */
static void work(long w)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, LISTEN_BACKLOG) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
        die("listen", "daemon");
    pid_t load = fork();
    if (load < 0)
        die("fork", "client");
    if (load == 0) {
        close(listener);
        client(w, &addr);
        _exit(0);
    }
    close(start_pipe[0]);
    exim_address_space(); /* (after the client's fork: the client is not Exim) */
    int status;
    for (long first = 0; first < messages; first += MESSAGES_PER_CONNECTION) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0)
            die("accept", "daemon");
        pid_t child = fork();
        if (child < 0)
            die("fork", "receive");
        if (child == 0) {
            close(listener);
            receive(fd, w, first);
            _exit(0);
        }
        close(fd);
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
            die("receive", "child");
    }
    if (waitpid(load, &status, 0) != load || !WIFEXITED(status) || WEXITSTATUS(status))
        die("client", "child");
}

static void make_dir(const char *parent, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", parent, name);
    if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
        die("mkdir", path);
}

/* The directory parent+name and, when separate (tmpfs-separate), a tmpfs on it. */
static void make_mount(const char *parent, const char *name, int separate)
{
    char path[PATH_MAX];
    make_dir(parent, name);
    snprintf(path, sizeof path, "%s%s", parent, name);
    if (separate)
        exim_tmpfs(path);
}

int main(int argc, char **argv)
{
    const char *fs = argc > 5 ? argv[5] : FS_UNIFIED;
    int separate = strcmp(fs, FS_SEPARATE) == 0;
    if (argc < 2 || strcmp(argv[1], "exim") != 0 || (!separate && strcmp(fs, FS_UNIFIED))) {
        fprintf(stderr, "usage: mosbench exim [WORKERS [MESSAGES [ROOT [" FS_UNIFIED "|"
                        FS_SEPARATE "]]]]\n");
        return 2;
    }
    workers = argc > 2 ? parse_count(argv[2], MAX_WORKERS, "WORKERS") : DEFAULT_WORKERS;
    messages = argc > 3 ? parse_count(argv[3], LONG_MAX, "MESSAGES") : DEFAULT_MESSAGES;
    root = argc > 4 ? argv[4] : DEFAULT_ROOT;
    if (separate)
        exim_private_mounts();
    make_dir(root, "");
    make_mount(root, "/spool", separate);
    make_dir(root, "/spool/input");
    make_dir(root, "/spool/msglog");
    make_mount(root, "/mail", separate);
    make_mount(root, "/log", separate);
    exim_standins(root);
    for (int s = 0; s < SPOOL_SUBDIRS; s++) { /* Exim makes each on its first use */
        char name[PATH_MAX];
        snprintf(name, sizeof name, "/spool/input/%c", BASE62[s]);
        make_mount(root, name, separate); /* (mkmounts: the msglog ones share the spool's) */
        snprintf(name, sizeof name, "/spool/msglog/%c", BASE62[s]);
        make_dir(root, name);
    }
    char path[PATH_MAX];
    for (long w = 0; w < workers; w++) { /* each client's recipient: a mailbox */
        snprintf(path, sizeof path, "%s/mail/%ld", root, w);
        put(path, O_CREAT | O_TRUNC, "", 0);
    }

    ops_fd = open(OPS_DEVICE, O_WRONLY | O_CLOEXEC); /* -1 natively: no marks */
    if (pipe(start_pipe) != 0)
        die("pipe", "start");
    for (long w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork", "worker");
        if (pid == 0) {
            close(start_pipe[1]);
            work(w);
            _exit(0);
        }
    }
    close(start_pipe[0]);
    struct timespec settle = {0, SETTLE_NS};
    nanosleep(&settle, NULL);
    close(start_pipe[1]);
    int failed = 0, status;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (failed) {
        fprintf(stderr, "mosbench exim: a worker failed\n");
        return 1;
    }
    printf("mosbench exim: %ld workers x %ld messages\n", workers, messages);
    return 0;
}
