/* mosbench: an Exim-like mail delivery loop after MOSBENCH's Exim, one binary.
 *
 * usage: mosbench exim [WORKERS [MESSAGES [ROOT]]]     defaults 1 worker, 50, /tmp/mosbench
 *
 * Written from the description of the Exim workload in Boyd-Wickizer et al., "An
 * Analysis of Linux Scalability to Many Cores" (OSDI 2010) and from MOSBENCH's own
 * Exim setup (github.com/KunZheng/mosbench, exim/): its configure.tmpl (no exec of
 * the delivery, deliver_drop_privilege; the routers system_aliases, an lsearch of
 * etc/aliases, userforward, $home/.forward after check_local_user's getpwnam, and
 * localuser; the local_delivery transport appends to MAIL_DIR/$local_part, which must
 * exist, without a lock file) and its system-call counts of a 48-core run
 * (exim/solaris/syscall.dtrace.48: per message about 2 forks, 4 unlinks, 4 fsyncs, 4
 * fchmods, 1 rename, 18 opens and 11 stats). No network: each worker is a
 * connection's receiving process, delivering MESSAGES messages one after the other:
 *
 *   receive: create ROOT/spool/input/<id>-D, write the body, fsync, close; create
 *     ROOT/spool/input/hdr.<id>, write the header, fsync, close, rename it to <id>-H;
 *     log "<=" to ROOT/log/mainlog (one log for all)
 *   fork the delivery process, which reads <id>-H and <id>-D, creates its message log
 *     ROOT/spool/msglog/<id> and journal ROOT/spool/input/<id>-J (each written and
 *     fsynced), routes: reads ROOT/etc/aliases, reads ROOT/etc/passwd and stats the
 *     user's ROOT/home/user<worker>/.forward (absent), reads ROOT/etc/passwd again;
 *     forks the transport process, which reads ROOT/etc/group (initgroups), stats and
 *     lstats the mailbox ROOT/mail/user<worker> and appends the message to it; logs
 *     "=>" and "Completed"; unlinks the journal, <id>-D, <id>-H and the message log
 *
 * As @fxmark and @wis: the parent prepares ROOT, forks the workers, releases them
 * together (end-of-file on a pipe) and waits; each worker marks every delivered message
 * on /dev/coffer/ops with its label "w<worker>" if that device exists. The summary
 * line depends only on the arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD_NAME "mosbench"
#include "workers.h"

#define DEFAULT_ROOT "/tmp/mosbench"
#define DEFAULT_WORKERS 1L
#define DEFAULT_MESSAGES 50L
#define MAX_WORKERS 1024L
#define DIR_MODE 0755
#define FILE_MODE 0600
#define READ_CHUNK 4096
#define FIRST_UID 1000L
#define BODY "Subject: mosbench\n\nA short message, as MOSBENCH's clients send.\n"

static const char *root;
static long workers, messages;
static int start_pipe[2];

/* Write all of text to path, opened with flags (a new spool file or an append); fsync
 * it first if sync. */
static void put(const char *path, int flags, const char *text, int sync)
{
    int fd = open(path, flags | O_WRONLY | O_CLOEXEC, FILE_MODE);
    size_t len = strlen(text);
    if (fd < 0)
        die("open", path);
    if (write(fd, text, len) != (ssize_t)len)
        die("write", path);
    if (sync && fsync(fd) != 0)
        die("fsync", path);
    if (close(fd) != 0)
        die("close", path);
}

/* Read path through (a spool file, a lookup file); it must exist. */
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

/* The local_delivery transport, in its own process: initgroups reads the group file;
 * appendfile stats and lstats the mailbox (it must exist) and appends the message. */
static void transport(long w)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/etc/group", root);
    slurp(path);
    snprintf(path, sizeof path, "%s/mail/user%ld", root, w);
    if (stat(path, &st) != 0 || lstat(path, &st) != 0)
        die("stat", path);
    put(path, O_APPEND, BODY, 0);
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
    char path[PATH_MAX];
    struct stat st;
    snprintf(data, sizeof data, "%s/spool/input/%ld-%ld-D", root, w, i);
    snprintf(header, sizeof header, "%s/spool/input/%ld-%ld-H", root, w, i);
    snprintf(msglog, sizeof msglog, "%s/spool/msglog/%ld-%ld", root, w, i);
    snprintf(journal, sizeof journal, "%s/spool/input/%ld-%ld-J", root, w, i);
    slurp(header);
    slurp(data);
    put(msglog, O_CREAT | O_EXCL, "delivering\n", 1);
    put(journal, O_CREAT | O_EXCL, "user\n", 1);
    snprintf(path, sizeof path, "%s/etc/aliases", root);
    slurp(path); /* system_aliases: lsearch */
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    slurp(path); /* userforward: check_local_user */
    snprintf(path, sizeof path, "%s/home/user%ld/.forward", root, w);
    if (stat(path, &st) == 0 || errno != ENOENT)
        die("stat", path);
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    slurp(path); /* localuser: check_local_user */
    run_child(transport_child, w, i, "transport");
    logline(w, i, "=> user Completed");
    const char *const done[] = {journal, data, header, msglog};
    for (size_t k = 0; k < sizeof done / sizeof *done; k++)
        if (unlink(done[k]) != 0)
            die("unlink", done[k]);
}

/* One message received on the worker's connection, then delivered. */
static void receive(long w, long i)
{
    char data[PATH_MAX], temp[PATH_MAX], header[PATH_MAX];
    snprintf(data, sizeof data, "%s/spool/input/%ld-%ld-D", root, w, i);
    snprintf(temp, sizeof temp, "%s/spool/input/hdr.%ld-%ld", root, w, i);
    snprintf(header, sizeof header, "%s/spool/input/%ld-%ld-H", root, w, i);
    put(data, O_CREAT | O_EXCL, BODY, 1);
    put(temp, O_CREAT | O_EXCL, "From: mosbench\nTo: user\n", 1);
    if (rename(temp, header) != 0)
        die("rename", temp);
    logline(w, i, "<= mosbench");
    run_child(deliver, w, i, "deliver");
}

static void work(long w)
{
    char byte;
    if (read(start_pipe[0], &byte, 1) != 0) /* end of file: every worker is ready */
        die("read", "start pipe");
    for (long i = 0; i < messages; i++) {
        receive(w, i);
        mark(w);
    }
}

static void make_dir(const char *parent, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", parent, name);
    if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
        die("mkdir", path);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "exim") != 0) {
        fprintf(stderr, "usage: mosbench exim [WORKERS [MESSAGES [ROOT]]]\n");
        return 2;
    }
    workers = argc > 2 ? parse_count(argv[2], MAX_WORKERS, "WORKERS") : DEFAULT_WORKERS;
    messages = argc > 3 ? parse_count(argv[3], LONG_MAX, "MESSAGES") : DEFAULT_MESSAGES;
    root = argc > 4 ? argv[4] : DEFAULT_ROOT;
    make_dir(root, "");
    make_dir(root, "/spool");
    make_dir(root, "/spool/input");
    make_dir(root, "/spool/msglog");
    make_dir(root, "/mail");
    make_dir(root, "/log");
    make_dir(root, "/etc");
    make_dir(root, "/home");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/etc/aliases", root);
    put(path, O_CREAT | O_TRUNC, "postmaster: root\n", 0);
    snprintf(path, sizeof path, "%s/etc/group", root);
    put(path, O_CREAT | O_TRUNC, "mail:x:8:\n", 0);
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    put(path, O_CREAT | O_TRUNC, "", 0);
    for (long w = 0; w < workers; w++) { /* each worker's user: a home and a mailbox */
        char line[128];
        snprintf(line, sizeof line, "user%ld:x:%ld:8::%s/home/user%ld:/bin/sh\n",
                 w, FIRST_UID + w, root, w);
        put(path, O_APPEND, line, 0);
        char home[PATH_MAX];
        snprintf(home, sizeof home, "/home/user%ld", w);
        make_dir(root, home);
        char mailbox[PATH_MAX];
        snprintf(mailbox, sizeof mailbox, "%s/mail/user%ld", root, w);
        put(mailbox, O_CREAT | O_TRUNC, "", 0);
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
