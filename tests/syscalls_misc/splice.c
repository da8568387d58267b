/* splice between files and pipes, as CPython's os.splice tests use it (test_os's
 * test_splice, test_splice_offset_in, test_splice_offset_out), with the error
 * paths in Linux's order. Prints results, data and errno names. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>

static void drain(int fd)
{
    char buf[64] = {0};
    long n = read(fd, buf, sizeof buf - 1);
    printf("drained %ld [%s]\n", n, n > 0 ? buf : "");
}

int main(void)
{
    int p[2], q[2];
    loff_t off;
    signal(SIGPIPE, SIG_IGN);  /* EPIPE, not death, for the last call */
    char back[32] = {0};
    int in = T(open("in", O_RDWR | O_CREAT | O_TRUNC, 0600));
    T(write(in, "0123456789", 10));
    T(lseek(in, 0, SEEK_SET));
    T(pipe(p));
    T(pipe(q));

    T(splice(in, NULL, p[1], NULL, 5, 0));       /* file to pipe at the file's offset */
    T(lseek(in, 0, SEEK_CUR));
    drain(p[0]);
    off = 3;
    T(splice(in, &off, p[1], NULL, 6, 0));       /* at an offset: the pointer moves */
    printf("off %ld pos %ld\n", (long)off, (long)lseek(in, 0, SEEK_CUR));
    drain(p[0]);
    off = 8;
    T(splice(in, &off, p[1], NULL, 100, 0));     /* short at the end of the file */
    drain(p[0]);
    off = 10;
    T(splice(in, &off, p[1], NULL, 5, 0));       /* at the end: 0 */

    int out = T(open("out", O_RDWR | O_CREAT | O_TRUNC, 0600));
    T(write(p[1], "abcdef", 6));
    off = 4;
    T(splice(p[0], NULL, out, &off, 4, 0));      /* pipe to file at an offset: a hole */
    printf("off %ld pos %ld\n", (long)off, (long)lseek(out, 0, SEEK_CUR));
    T(splice(p[0], NULL, out, NULL, 10, 0));     /* the rest, at the file's offset */
    T(pread(out, back, sizeof back, 0));
    printf("out [%c%c%c%c%s] pos %ld\n", back[0] ? back[0] : '_', back[1] ? back[1] : '_',
           back[2] ? back[2] : '_', back[3] ? back[3] : '_', back + 4,
           (long)lseek(out, 0, SEEK_CUR));

    T(write(p[1], "xyz", 3));
    T(splice(p[0], NULL, q[1], NULL, 2, 0));     /* pipe to pipe */
    drain(q[0]);
    drain(p[0]);
    T(splice(p[0], NULL, q[1], NULL, 2, SPLICE_F_NONBLOCK)); /* empty: EAGAIN */
    T(splice(p[0], NULL, out, NULL, 2, SPLICE_F_NONBLOCK));

    T(splice(in, NULL, p[1], NULL, 0, 0));       /* nothing to do: 0 */
    T(splice(in, NULL, p[1], NULL, 5, 0x100));   /* an unknown flag */
    T(splice(-1, NULL, p[1], NULL, 5, 0));
    T(splice(in, NULL, -1, NULL, 5, 0));
    off = 0;
    T(splice(p[0], &off, out, NULL, 5, 0));      /* an offset on a pipe's side */
    T(splice(in, NULL, p[1], &off, 5, 0));
    T(splice(in, BAD_POINTER, p[1], NULL, 5, 0));
    T(splice(p[0], NULL, p[1], NULL, 5, 0));     /* a pipe into itself */
    T(splice(in, NULL, out, NULL, 5, 0));        /* no pipe */
    off = -1;
    T(splice(in, &off, p[1], NULL, 5, 0));
    T(splice(p[1], NULL, q[1], NULL, 5, 0));     /* the write end is not readable */
    T(splice(in, NULL, p[0], NULL, 5, 0));
    int app = T(open("out", O_WRONLY | O_APPEND));
    T(write(p[1], "z", 1));
    T(splice(p[0], NULL, app, NULL, 1, 0));      /* O_APPEND: EINVAL */
    int dir = T(open(".", O_RDONLY | O_DIRECTORY));
    T(splice(dir, NULL, q[1], NULL, 1, 0));
    T(close(p[1]));
    drain(p[0]);
    T(splice(p[0], NULL, out, NULL, 5, 0));      /* no writer left: 0 */
    T(close(q[0]));
    T(splice(in, NULL, q[1], NULL, 5, 0) == -1 && errno == EPIPE); /* no reader: EPIPE */
    T(unlink("in"));
    T(unlink("out"));
    return 0;
}
