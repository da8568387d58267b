/* O_TMPFILE: an unnamed file in a directory, named later by linkat through
 * /proc/self/fd or AT_EMPTY_PATH (never with O_EXCL), and open's checks on it. */
#include "check.h"

static void show_stat(const char *what, int fd)
{
    struct stat st;
    fstat(fd, &st);
    printf("%s: mode %o nlink %ld size %ld\n", what, st.st_mode, (long)st.st_nlink,
           (long)st.st_size);
    fflush(stdout);
}

static int entries(void)
{
    DIR *dir = opendir(".");
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

int main(void)
{
    umask(022);
    int fd = open(".", O_TMPFILE | O_RDWR, 0666);
    T(fd >= 0);
    show_stat("tmpfile", fd);
    T(write(fd, "hello", 5));
    show_stat("written", fd);
    T(entries()); /* "." and ".." only */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    T(linkat(AT_FDCWD, proc, AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
    show_stat("linked", fd);
    T(entries());
    char buf[16] = {0};
    int named = open("named", O_RDONLY);
    T(read(named, buf, sizeof buf - 1));
    printf("contents %s\n", buf);
    T(linkat(AT_FDCWD, proc, AT_FDCWD, "again", AT_SYMLINK_FOLLOW)); /* a second name */
    show_stat("twice", fd);
    T(unlink("again"));
    T(unlink("named"));
    close(named);
    close(fd);

    int excl = open(".", O_TMPFILE | O_WRONLY | O_EXCL, 0600);
    T(excl >= 0);
    show_stat("excl", excl);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", excl);
    T(linkat(AT_FDCWD, proc, AT_FDCWD, "never", AT_SYMLINK_FOLLOW));
    T(linkat(excl, "", AT_FDCWD, "never", AT_EMPTY_PATH));
    close(excl);

    int other = open(".", O_TMPFILE | O_WRONLY, 0640);
    T(linkat(other, "", AT_FDCWD, "empty-path", AT_EMPTY_PATH));
    show_stat("by AT_EMPTY_PATH", other);
    T(unlink("empty-path"));
    close(other);

    /* Open's checks. */
    T(open(".", O_TMPFILE | O_RDONLY, 0600));
    T(open(".", O_TMPFILE | O_CREAT | O_RDWR, 0600));
    int opath = open(".", O_TMPFILE | O_PATH | O_RDWR, 0600); /* O_PATH drops O_TMPFILE */
    struct stat st;
    T(fstat(opath, &st) == 0 && S_ISDIR(st.st_mode));
    close(opath);
    T(open("missing", O_TMPFILE | O_RDWR, 0600));
    close(open("plain", O_CREAT | O_WRONLY, 0600));
    T(open("plain", O_TMPFILE | O_RDWR, 0600));
    T(unlink("plain"));
    T(open("/proc", O_TMPFILE | O_RDWR, 0600));
    T(entries());
    return 0;
}
