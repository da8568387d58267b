/* mosbench: an Exim-like mail delivery loop after MOSBENCH's Exim, one binary.
 *
 * usage: mosbench exim [WORKERS [MESSAGES [ROOT]]]     defaults 1 worker, 50, /tmp/mosbench
 *
 * Written from the description of the Exim workload in Boyd-Wickizer et al., "An
 * Analysis of Linux Scalability to Many Cores" (OSDI 2010): Exim forks a process per
 * connection and per delivery, writes each message's spool files into a spool
 * directory that every delivery shares, appends the message to the recipient's
 * mailbox and a line to its log, and removes the spool files. No network: each worker
 * is the listener's process, delivering MESSAGES messages one after the other, each by
 * a child process it forks:
 *
 *   create ROOT/spool/input/<id>-D, write the body, close
 *   create ROOT/spool/input/hdr.<id>, write the header, close, rename it to <id>-H
 *   append the message to ROOT/mail/user<worker> (its own mailbox)
 *   append a line to ROOT/log/mainlog (one log for all)
 *   unlink <id>-D and <id>-H; exit
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
#define BODY "Subject: mosbench\n\nA short message, as MOSBENCH's clients send.\n"

static const char *root;
static long workers, messages;
static int start_pipe[2];

/* Write all of text to path, opened with flags (a new spool file or an append). */
static void put(const char *path, int flags, const char *text)
{
    int fd = open(path, flags | O_WRONLY | O_CLOEXEC, FILE_MODE);
    size_t len = strlen(text);
    if (fd < 0)
        die("open", path);
    if (write(fd, text, len) != (ssize_t)len)
        die("write", path);
    if (close(fd) != 0)
        die("close", path);
}

/* One delivery, in the child the worker forked for it. */
static void deliver(long w, long i)
{
    char data[PATH_MAX], temp[PATH_MAX], header[PATH_MAX], path[PATH_MAX], line[128];
    snprintf(data, sizeof data, "%s/spool/input/%ld-%ld-D", root, w, i);
    snprintf(temp, sizeof temp, "%s/spool/input/hdr.%ld-%ld", root, w, i);
    snprintf(header, sizeof header, "%s/spool/input/%ld-%ld-H", root, w, i);
    put(data, O_CREAT | O_EXCL, BODY);
    put(temp, O_CREAT | O_EXCL, "From: mosbench\nTo: user\n");
    if (rename(temp, header) != 0)
        die("rename", temp);
    snprintf(path, sizeof path, "%s/mail/user%ld", root, w);
    put(path, O_CREAT | O_APPEND, BODY);
    snprintf(path, sizeof path, "%s/log/mainlog", root);
    snprintf(line, sizeof line, "%ld-%ld <= mosbench Completed\n", w, i);
    put(path, O_CREAT | O_APPEND, line);
    if (unlink(data) != 0)
        die("unlink", data);
    if (unlink(header) != 0)
        die("unlink", header);
}

static void work(long w)
{
    char byte;
    int status;
    if (read(start_pipe[0], &byte, 1) != 0) /* end of file: every worker is ready */
        die("read", "start pipe");
    for (long i = 0; i < messages; i++) {
        pid_t child = fork();
        if (child < 0)
            die("fork", "delivery");
        if (child == 0) {
            deliver(w, i);
            _exit(0);
        }
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
            die("deliver", "child");
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
    make_dir(root, "/mail");
    make_dir(root, "/log");

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
