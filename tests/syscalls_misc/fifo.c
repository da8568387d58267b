/* FIFOs: mkfifo and mknod, opening them (blocking until the other side, O_NONBLOCK,
 * ENXIO, O_RDWR), a writer and a reader in two processes; mknod's other types. */
#include "check.h"
#include <sys/wait.h>

static void show_type(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("stat(%s) = -1 %s\n", path, strerrorname_np(errno));
        return;
    }
    printf("%s: fifo %d reg %d chr %d perms %o rdev %u:%u\n", path, S_ISFIFO(st.st_mode),
           S_ISREG(st.st_mode), S_ISCHR(st.st_mode), st.st_mode & 07777,
           major(st.st_rdev), minor(st.st_rdev));
}

int main(void)
{
    umask(022);
    T(mkfifo("p", 0666));
    show_type("p");
    T(mkfifo("p", 0666));

    /* Non-blocking opens: a reader opens at once, a writer needs a reader. */
    T(open("p", O_WRONLY | O_NONBLOCK));
    int r = T(open("p", O_RDONLY | O_NONBLOCK));
    char buf[64];
    T(read(r, buf, sizeof buf));  /* no writer: end of file */
    int w = T(open("p", O_WRONLY | O_NONBLOCK));
    T(write(w, "abc", 3));
    struct stat st;
    fstat(w, &st);
    printf("fstat fifo %d\n", S_ISFIFO(st.st_mode));
    T(read(r, buf, sizeof buf));
    T(read(r, buf, sizeof buf));  /* a writer, no data: EAGAIN */
    T(lseek(r, 0, SEEK_SET));
    T(write(r, "x", 1));
    T(read(w, buf, 1));
    close(w);
    T(read(r, buf, sizeof buf));
    close(r);

    /* O_RDWR never waits. */
    int rw = T(open("p", O_RDWR));
    T(write(rw, "loop", 4));
    T(read(rw, buf, sizeof buf));
    close(rw);

    /* Data left when the last end closes is gone. */
    rw = open("p", O_RDWR);
    write(rw, "lost", 4);
    close(rw);
    r = open("p", O_RDONLY | O_NONBLOCK);
    T(read(r, buf, sizeof buf));
    close(r);

    /* A writer and a reader in two processes; each open waits for the other. */
    pid_t child = fork();
    if (child == 0) {
        int fd = open("p", O_WRONLY);
        for (int i = 0; i < 3; i++) {
            char line[32];
            int n = snprintf(line, sizeof line, "line %d from the writer\n", i);
            write(fd, line, n);
        }
        close(fd);
        _exit(0);
    }
    int fd = T(open("p", O_RDONLY));
    size_t total = 0;
    ssize_t n;
    char text[256];
    while ((n = read(fd, text + total, sizeof text - 1 - total)) > 0)
        total += n;
    text[total] = 0;
    printf("reader got %zu bytes:\n%s", total, text);
    close(fd);
    int status;
    waitpid(child, &status, 0);
    printf("writer status %d\n", status);
    fflush(stdout);

    /* The reader first this time, the writer opens later. */
    child = fork();
    if (child == 0) {
        int fd = open("p", O_RDONLY);
        char b[32] = {0};
        ssize_t got = read(fd, b, sizeof b - 1);
        printf("child read %zd: %s\n", got, b);
        fflush(stdout);
        _exit(0);
    }
    usleep(20000);
    fd = T(open("p", O_WRONLY));
    /* Print the write's result only after the reader has printed: both share
     * stdout, and natively the order of the two lines would be a race. */
    ssize_t wrote = write(fd, "late writer", 11);
    waitpid(child, &status, 0);
    printf("write late writer = %zd\n", wrote);
    printf("reader status %d\n", status);
    T(close(fd));

    /* mknod and mknodat. */
    T(mknod("q", S_IFIFO | 0640, 0));
    show_type("q");
    T(mknod("r", 0600, 0));
    show_type("r");
    T(mknod("s", S_IFREG | 0777, 0));
    show_type("s");
    T(mknodat(AT_FDCWD, "n", S_IFCHR | 0666, makedev(1, 3)));
    show_type("n");
    int null = T(open("n", O_WRONLY));
    T(write(null, "gone", 4));
    T(mknod("dd", S_IFDIR | 0755, 0));
    T(mknod("bad", 0170000 | 0644, 0));
    T(mknod("q", S_IFIFO | 0644, 0));
    T(mknod("n", S_IFCHR | 0644, makedev(1, 3)));
    T(mknod("missing/x", S_IFIFO | 0644, 0));
    T(mknod("q/", S_IFIFO | 0644, 0));
    T(mknod("t/", S_IFIFO | 0644, 0));
    unlink("p");
    unlink("q");
    unlink("r");
    unlink("s");
    unlink("n");
    return 0;
}
