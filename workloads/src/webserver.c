/* webserver: the web service that browsing agents (agent.c) fetch pages from, over TCP.
 *
 *   webserver PORT CLIENTS PAGES PAGE_BYTES
 *
 * An HTTP/1.0 server of generated pages, one connection at a time (accept, read the
 * request, answer, close): GET /index.html lists links to /p0.html ... /p{PAGES-1}.html;
 * GET /pK.html is a page of about PAGE_BYTES bytes: a <title>, then list items, each a
 * link to another page and a price, the same bytes on every run. Anything else is a 404.
 * GET /quit counts a client as done; after CLIENTS of them the server prints how many
 * requests it served and exits 0 (so the machine's run ends with it).
 *
 * Kernel paths: socket, setsockopt(SO_REUSEADDR), bind, listen, accept blocking until
 * a client connects, reads of a request in parts, writes of the answer, close.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lineio.h" /* write_all */

#define BACKLOG 64
#define REQUEST_BYTES 2048
#define PAGE_MAX_BYTES 65536
#define ITEM_BYTES 128
#define LINK_STRIDE 7  /* page K's item I links to page (K + I * LINK_STRIDE) % PAGES */
#define PRICE_MODULUS 997 /* a prime: prices look varied and repeat rarely */
#define PRICE_PAGE_FACTOR 31
#define PRICE_ITEM_FACTOR 17

static const char QUIT_REPLY[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";

/* The body of page ``path`` into out; its length, or -1 for no such page. */
static int page(const char *path, long pages, long page_bytes, char *out) {
    int used = 0;
    long number = -1;
    if (strcmp(path, "/index.html") == 0 || strcmp(path, "/") == 0) {
        used = snprintf(out, PAGE_MAX_BYTES, "<html><head><title>Index</title></head><body>\n");
        for (long k = 0; k < pages && used < PAGE_MAX_BYTES - ITEM_BYTES; k++)
            used += snprintf(out + used, PAGE_MAX_BYTES - (size_t)used,
                             "<li><a href=\"/p%ld.html\">page %ld</a></li>\n", k, k);
    } else if (sscanf(path, "/p%ld.html", &number) == 1 && number >= 0 && number < pages) {
        used = snprintf(out, PAGE_MAX_BYTES,
                        "<html><head><title>Page %ld</title></head><body>\n", number);
        for (long i = 0; used < page_bytes && used < PAGE_MAX_BYTES - ITEM_BYTES; i++)
            used += snprintf(out + used, PAGE_MAX_BYTES - (size_t)used,
                             "<li><a href=\"/p%ld.html\">item %ld.%ld</a> price %ld</li>\n",
                             (number + i * LINK_STRIDE) % pages, number, i,
                             (number * PRICE_PAGE_FACTOR + i * PRICE_ITEM_FACTOR) % PRICE_MODULUS);
    } else {
        return -1;
    }
    used += snprintf(out + used, PAGE_MAX_BYTES - (size_t)used, "</body></html>\n");
    return used;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: webserver PORT CLIENTS PAGES PAGE_BYTES\n");
        return 2;
    }
    long clients = atol(argv[2]), pages = atol(argv[3]), page_bytes = atol(argv[4]);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((unsigned short)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, BACKLOG) != 0) {
        perror("webserver: bind/listen");
        return 1;
    }
    static char body[PAGE_MAX_BYTES];
    char request[REQUEST_BYTES], header[256], path[REQUEST_BYTES];
    long served = 0, missing = 0, quits = 0;
    while (quits < clients) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0)
            continue;
        size_t used = 0;
        ssize_t n;
        request[0] = '\0';
        while (used < sizeof request - 1 &&
               (n = read(fd, request + used, sizeof request - 1 - used)) > 0) {
            used += (size_t)n;
            request[used] = '\0';
            if (strstr(request, "\r\n\r\n") != NULL || strstr(request, "\n\n") != NULL)
                break;
        }
        if (sscanf(request, "GET %2047s", path) != 1) {
            close(fd);
            continue;
        }
        if (strcmp(path, "/quit") == 0) {
            quits++;
            write_all(fd, QUIT_REPLY, sizeof QUIT_REPLY - 1);
            close(fd);
            continue;
        }
        int len = page(path, pages, page_bytes, body);
        int head = len < 0
            ? snprintf(header, sizeof header,
                       "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            : snprintf(header, sizeof header,
                       "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
                       "Content-Length: %d\r\n\r\n", len);
        write_all(fd, header, (size_t)head);
        if (len > 0)
            write_all(fd, body, (size_t)len);
        close(fd);
        if (len < 0)
            missing++;
        else
            served++;
    }
    printf("served %ld pages, %ld not found\n", served, missing);
    return 0;
}
