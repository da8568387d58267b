/* modelserver: the model server that tool-using agents (agent.c) ask, over TCP.
 *
 *   modelserver PORT AGENTS TRACE PREFILL_NS DECODE_NS BATCH_NS MAX_BATCH
 *
 * No model runs. The server replays a trace (one line per turn, written from a
 * TOML scenario by cofferos.sim.agents.scenario):
 *
 *   AGENT IN_TOKENS OUT_TOKENS THINK_US KIND ARGS...
 *
 * It accepts AGENTS connections, each opening with "HELLO ID", and answers each
 * agent's request with that agent's next line ("TOOL THINK_US KIND ARGS", or
 * "DONE THINK_US" for a final answer; "EXIT" once its turns are done), after the
 * modelled inference time: a request waits in a FIFO queue until a batch slot is
 * free (MAX_BATCH sequences at once: continuous batching); the engine step in
 * which it is admitted also does its prefill (PREFILL_NS per input token); every
 * step then gives each running sequence one output token and takes DECODE_NS +
 * BATCH_NS per extra running sequence. The server sleeps the steps in simulated
 * time (nanosleep), polls for new requests between steps (ppoll, zero timeout;
 * blocking when idle), and new requests join at the next step boundary, as
 * vLLM's scheduler admits them. A request is "RESULT BYTES" and the bytes of a
 * tool's output.
 *
 * It prints what each agent's tools sent it: "agent A turn T result N bytes",
 * then each line of the result as "agent A turn T > LINE"; at the end, how many
 * requests and engine steps it served.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lineio.h"

#define RESULT_MAX_BYTES 16384
#define MAX_AGENTS 256
#define MAX_TURNS 65536
#define BACKLOG 64

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
        perror("modelserver: trace");
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

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: modelserver PORT AGENTS TRACE PREFILL_NS DECODE_NS BATCH_NS "
                        "MAX_BATCH\n");
        return 2;
    }
    int port = atoi(argv[1]), n_agents = atoi(argv[2]);
    long long prefill_ns = atoll(argv[4]), decode_ns = atoll(argv[5]), batch_ns = atoll(argv[6]);
    int max_batch = atoi(argv[7]);
    if (n_agents < 1 || n_agents > MAX_AGENTS || max_batch < 1) {
        fprintf(stderr, "modelserver: 1..%d agents and a batch of at least 1\n", MAX_AGENTS);
        return 2;
    }
    if (load_trace(argv[3], n_agents) < 0)
        return 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, BACKLOG) != 0) {
        perror("modelserver: bind/listen");
        return 1;
    }
    /* Accept every agent first: each says which one it is. */
    for (int i = 0; i < n_agents; i++) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            perror("modelserver: accept");
            return 1;
        }
        struct conn hello = {.fd = fd};
        char line[LINE_MAX_BYTES];
        int id;
        if (read_line(&hello, line, sizeof line) != 1 || sscanf(line, "HELLO %d", &id) != 1 ||
            id < 0 || id >= n_agents || agents[id].open) {
            fprintf(stderr, "modelserver: bad hello\n");
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

