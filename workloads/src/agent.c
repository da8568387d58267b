/* agent: a tool-using AI agent and the model server it talks to, over TCP.
 *
 *   agent serve PORT AGENTS TRACE PREFILL_NS DECODE_NS BATCH_NS MAX_BATCH
 *   agent run SERVER_IP PORT AGENT_ID WORKSPACE
 *
 * No model runs. The model server replays a trace (one line per turn, written
 * from a TOML scenario by cofferos.sim.agents.trace):
 *
 *   AGENT IN_TOKENS OUT_TOKENS THINK_US KIND ARGS...
 *
 * and answers each agent's request with that agent's next line, after the
 * modelled inference time: a request waits in a FIFO queue until a batch slot
 * is free (MAX_BATCH sequences at once: continuous batching); the engine step
 * in which it is admitted also does its prefill (PREFILL_NS per input token);
 * every step then gives each running sequence one output token and takes
 * DECODE_NS + BATCH_NS per extra running sequence. The server sleeps the steps
 * in simulated time (ppoll / nanosleep), and new requests join at the next step
 * boundary, as vLLM's scheduler admits them.
 *
 * The agent connects (retrying while the server is not yet listening), says
 * "HELLO ID", then loops: it reads "TOOL THINK_US KIND ARGS" or "DONE THINK_US"
 * (the task's final answer) or "EXIT", sleeps the think time, runs the tool in
 * its own kernel instance, and sends "RESULT BYTES" and the tool's output back.
 * Tools really run:
 *
 *   shell CMD...   /bin/sh -c CMD in the workspace (a subprocess; its output)
 *   read PATH      read a workspace file
 *   write PATH N   write N bytes of numbered lines
 *   patch PATH L   rewrite line L of a file through a temporary and rename(2)
 *   build          "compile" every src/ file to obj/ (read, write), then link in
 *                  a subprocess: cat obj/... | wc -c
 *   search WORD    walk the workspace, count lines holding WORD
 *
 * The agent prints "ready MONO_NS" once connected, one line per finished task
 * "task I START_NS END_NS MODEL_NS TOOL_NS KERNEL_NS", and at exit "maxrss KB".
 * The server prints what each agent's tools sent it: "agent A turn T result N bytes",
 * then each line of the result as "agent A turn T > LINE".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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

#define LINE_MAX_BYTES 4096
#define RESULT_MAX_BYTES 16384
#define MAX_AGENTS 256
#define MAX_TURNS 65536
#define BACKLOG 64
#define CONNECT_TRIES 1000
#define CONNECT_RETRY_NS 1000000L
#define NS_PER_S 1000000000LL
#define NS_PER_US 1000LL
#define PATH_BYTES 512
#define BUILD_SUFFIX_BYTES 8 /* the "object" a compile writes: a checksum of the source */

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_ns(long long ns) {
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A buffered line reader over a socket. */
struct conn {
    int fd;
    char buf[LINE_MAX_BYTES];
    size_t used;
};

/* The next line (without its newline) into out; 1, 0 at EOF, -1 on error. */
static int read_line(struct conn *c, char *out, size_t size) {
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->used);
        if (nl != NULL) {
            size_t len = (size_t)(nl - c->buf);
            if (len >= size)
                len = size - 1;
            memcpy(out, c->buf, len);
            out[len] = '\0';
            size_t rest = c->used - (size_t)(nl - c->buf) - 1;
            memmove(c->buf, nl + 1, rest);
            c->used = rest;
            return 1;
        }
        if (c->used == sizeof c->buf)
            return -1;
        ssize_t n = read(c->fd, c->buf + c->used, sizeof c->buf - c->used);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        c->used += (size_t)n;
    }
}

/* Exactly len bytes after the buffered ones. */
static int read_exact(struct conn *c, char *out, size_t len) {
    size_t have = c->used < len ? c->used : len;
    memcpy(out, c->buf, have);
    memmove(c->buf, c->buf + have, c->used - have);
    c->used -= have;
    while (have < len) {
        ssize_t n = read(c->fd, out + have, len - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

/* ---------------------------------------------------------------- server -- */

struct turn {
    int in_tokens, out_tokens;
    char *reply; /* "TOOL THINK KIND ARGS" or "DONE THINK" */
};

struct agent_state {
    struct conn conn;
    int open;
    int first, count, next; /* its turns in the trace, and the next one */
    int waiting;            /* a request is queued or running */
    long long remaining;    /* output tokens still to generate */
};

static struct turn turns[MAX_TURNS];
static struct agent_state agents[MAX_AGENTS];

static int load_trace(const char *path, int n_agents) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror("agent serve: trace");
        return -1;
    }
    char line[LINE_MAX_BYTES];
    int n = 0;
    for (int a = 0; a < n_agents; a++)
        agents[a].first = -1;
    while (fgets(line, sizeof line, f) != NULL && n < MAX_TURNS) {
        line[strcspn(line, "\n")] = '\0';
        int agent, in, out, used = 0;
        long think;
        if (sscanf(line, "%d %d %d %ld %n", &agent, &in, &out, &think, &used) != 4 ||
            agent < 0 || agent >= n_agents)
            continue;
        const char *kind = line + used;
        char reply[LINE_MAX_BYTES];
        if (strcmp(kind, "final") == 0)
            snprintf(reply, sizeof reply, "DONE %ld", think);
        else
            snprintf(reply, sizeof reply, "TOOL %ld %s", think, kind);
        turns[n] = (struct turn){.in_tokens = in, .out_tokens = out, .reply = strdup(reply)};
        if (agents[agent].first < 0)
            agents[agent].first = n;
        agents[agent].count++;
        n++;
    }
    fclose(f);
    return n;
}

static int serve(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: agent serve PORT AGENTS TRACE PREFILL_NS DECODE_NS BATCH_NS "
                        "MAX_BATCH\n");
        return 2;
    }
    int port = atoi(argv[2]), n_agents = atoi(argv[3]);
    long long prefill_ns = atoll(argv[5]), decode_ns = atoll(argv[6]), batch_ns = atoll(argv[7]);
    int max_batch = atoi(argv[8]);
    if (n_agents < 1 || n_agents > MAX_AGENTS || max_batch < 1) {
        fprintf(stderr, "agent serve: 1..%d agents and a batch of at least 1\n", MAX_AGENTS);
        return 2;
    }
    if (load_trace(argv[4], n_agents) < 0)
        return 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, BACKLOG) != 0) {
        perror("agent serve: bind/listen");
        return 1;
    }
    /* Accept every agent first: each says which one it is. */
    for (int i = 0; i < n_agents; i++) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            perror("agent serve: accept");
            return 1;
        }
        struct conn hello = {.fd = fd};
        char line[LINE_MAX_BYTES];
        int id;
        if (read_line(&hello, line, sizeof line) != 1 || sscanf(line, "HELLO %d", &id) != 1 ||
            id < 0 || id >= n_agents || agents[id].open) {
            fprintf(stderr, "agent serve: bad hello\n");
            return 1;
        }
        agents[id].conn = hello;
        agents[id].open = 1;
        agents[id].waiting = 1; /* its first request is the hello */
    }
    close(listener);
    int queue[MAX_AGENTS], q_head = 0, q_len = 0; /* FIFO of agents waiting for a slot */
    int running[MAX_AGENTS], n_running = 0;
    for (int i = 0; i < n_agents; i++)
        queue[q_len++] = i; /* all said hello: queued in agent order */
    int open_agents = n_agents;
    long long steps = 0, requests = 0, batch_sum = 0;
    char *result = malloc(RESULT_MAX_BYTES + 1);
    struct pollfd pfd[MAX_AGENTS];
    int pfd_agent[MAX_AGENTS];
    while (open_agents > 0) {
        /* Collect requests: block when idle, else only look. */
        int n_pfd = 0;
        for (int a = 0; a < n_agents; a++)
            if (agents[a].open && !agents[a].waiting) {
                pfd[n_pfd] = (struct pollfd){.fd = agents[a].conn.fd, .events = POLLIN};
                pfd_agent[n_pfd++] = a;
            }
        int idle = n_running == 0 && q_len == 0;
        if (n_pfd > 0 || idle) {
            struct timespec zero = {0, 0};
            int ready = ppoll(pfd, (nfds_t)n_pfd, idle ? NULL : &zero, NULL);
            for (int i = 0; ready > 0 && i < n_pfd; i++) {
                if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                int a = pfd_agent[i];
                struct agent_state *s = &agents[a];
                char line[LINE_MAX_BYTES];
                size_t bytes;
                if (read_line(&s->conn, line, sizeof line) != 1 ||
                    sscanf(line, "RESULT %zu", &bytes) != 1 || bytes > RESULT_MAX_BYTES) {
                    close(s->conn.fd); /* the agent is done (or broke the protocol) */
                    s->open = 0;
                    open_agents--;
                    continue;
                }
                if (read_exact(&s->conn, result, bytes) != 0) {
                    close(s->conn.fd);
                    s->open = 0;
                    open_agents--;
                    continue;
                }
                result[bytes] = '\0';
                printf("agent %d turn %d result %zu bytes\n", a, s->next - 1, bytes);
                for (char *line = strtok(result, "\n"); line; line = strtok(NULL, "\n"))
                    printf("agent %d turn %d > %s\n", a, s->next - 1, line);
                s->waiting = 1;
                queue[(q_head + q_len++) % MAX_AGENTS] = a;
            }
        }
        if (n_running == 0 && q_len == 0)
            continue;
        /* One engine step: admit from the queue, prefill the admitted, decode one token. */
        long long step = 0;
        while (n_running < max_batch && q_len > 0) {
            int a = queue[q_head];
            q_head = (q_head + 1) % MAX_AGENTS;
            q_len--;
            struct agent_state *s = &agents[a];
            if (s->next >= s->count) { /* no more turns: tell it to stop */
                write_all(s->conn.fd, "EXIT\n", 5);
                s->waiting = 0;
                continue;
            }
            struct turn *t = &turns[s->first + s->next];
            step += prefill_ns * t->in_tokens;
            s->remaining = t->out_tokens > 0 ? t->out_tokens : 1;
            running[n_running++] = a;
            requests++;
        }
        if (n_running == 0)
            continue;
        step += decode_ns + batch_ns * (n_running - 1);
        sleep_ns(step);
        steps++;
        batch_sum += n_running;
        int kept = 0;
        for (int i = 0; i < n_running; i++) {
            struct agent_state *s = &agents[running[i]];
            if (--s->remaining > 0) {
                running[kept++] = running[i];
                continue;
            }
            struct turn *t = &turns[s->first + s->next++];
            char reply[LINE_MAX_BYTES];
            int len = snprintf(reply, sizeof reply, "%s\n", t->reply);
            write_all(s->conn.fd, reply, (size_t)len);
            s->waiting = 0;
        }
        n_running = kept;
    }
    printf("served %lld requests in %lld engine steps, mean batch %.2f\n", requests, steps,
           steps ? (double)batch_sum / (double)steps : 0.0);
    return 0;
}

/* ----------------------------------------------------------------- agent -- */

static char workspace[PATH_BYTES];

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
    if (pipe(fds) != 0)
        return append(out, 0, "pipe failed: %s\n", strerror(errno));
    pid_t pid = fork();
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
    if (fd < 0)
        return append(out, 0, "write %s: cannot create\n", rel);
    char line[128];
    long written = 0;
    for (long i = 0; written < bytes; i++) {
        int n = snprintf(line, sizeof line, "line %ld of %s: int v%ld = %ld;\n", i, rel, i,
                         i * 7);
        if (written + n > bytes)
            n = (int)(bytes - written);
        write_all(fd, line, (size_t)n);
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
    fclose(o);
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
    if (arg == NULL)
        return append(out, 0, "%s: missing argument\n", kind);
    if (strcmp(kind, "read") == 0)
        return tool_read(arg, out);
    if (strcmp(kind, "write") == 0)
        return tool_write(arg, num ? atol(num) : 0, out);
    if (strcmp(kind, "patch") == 0)
        return tool_patch(arg, num ? atol(num) : 0, out);
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

static int run(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: agent run SERVER_IP PORT AGENT_ID WORKSPACE\n");
        return 2;
    }
    long long started = now_ns();
    snprintf(workspace, sizeof workspace, "%s", argv[5]);
    char sub[PATH_BYTES];
    mkdir(workspace, 0755);
    ws_path(sub, "src");
    mkdir(sub, 0755);
    ws_path(sub, "obj");
    mkdir(sub, 0755);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
        fprintf(stderr, "agent run: bad address %s\n", argv[2]);
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
        fprintf(stderr, "agent run: cannot reach the model server\n");
        return 1;
    }
    char line[LINE_MAX_BYTES];
    int len = snprintf(line, sizeof line, "HELLO %s\n", argv[4]);
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
            fprintf(stderr, "agent run: bad reply %s\n", line);
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
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("maxrss %ld\n", self.ru_maxrss);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run(argc, argv);
    fprintf(stderr, "usage: agent serve PORT AGENTS TRACE PREFILL_NS DECODE_NS BATCH_NS "
                    "MAX_BATCH\n       agent run SERVER_IP PORT AGENT_ID WORKSPACE\n");
    return 2;
}
