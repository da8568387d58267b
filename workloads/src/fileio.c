/* fileio: a round trip through the file system calls, under the current directory.
 *
 * Creates the directory coffer-fileio.d, writes N chunks (argv[1], default 64)
 * of 4096 patterned bytes into a file with open/write, reopens it relative to
 * the directory with openat, checks its size with fstat, reads it back with
 * read, seeks with lseek, spot-checks chunks with pread, checks the size again
 * with stat, renames it, lists the directory with opendir/readdir (getdents64),
 * then unlinks everything and removes the directory. No fsync: durability is
 * not what is measured.
 *
 * The summary it prints (byte counts, an FNV-1a checksum, the sorted names)
 * depends only on N, so a simulated run can be compared line by line with a
 * native one. Leftovers of an interrupted run are removed first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_CHUNKS 64L
#define CHUNK_BYTES 4096
#define DIR_MODE 0755
#define FILE_MODE 0644
#define MAX_ENTRIES 8
#define FNV_OFFSET UINT32_C(2166136261)
#define FNV_PRIME UINT32_C(16777619)

#define DIR_NAME "coffer-fileio.d"
#define DATA_NAME "data.bin"
#define RENAMED_NAME "renamed.bin"
#define NOTE_NAME "note.txt"
#define DATA_PATH DIR_NAME "/" DATA_NAME
#define RENAMED_PATH DIR_NAME "/" RENAMED_NAME
#define NOTE_PATH DIR_NAME "/" NOTE_NAME

static const char note_text[] = "written by openat\n";

static long parse_count(int argc, char **argv, long fallback)
{
    if (argc < 2)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[1] || value < 1) {
        fprintf(stderr, "usage: %s [chunks >= 1]\n", argv[0]);
        exit(2);
    }
    return value;
}

static int fail(const char *what)
{
    perror(what);
    return 1;
}

/* The byte at position `offset` of the file: a pattern that differs per chunk. */
static unsigned char pattern_byte(long offset)
{
    long chunk = offset / CHUNK_BYTES;
    return (unsigned char)((offset * 7 + chunk * 131) & 0xff);
}

static void fill_chunk(unsigned char *buf, long chunk)
{
    for (long j = 0; j < CHUNK_BYTES; j++)
        buf[j] = pattern_byte(chunk * CHUNK_BYTES + j);
}

static uint32_t fnv1a(uint32_t hash, const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        hash ^= buf[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void remove_leftovers(void)
{
    unlink(DATA_PATH);
    unlink(RENAMED_PATH);
    unlink(NOTE_PATH);
    rmdir(DIR_NAME);
}

int main(int argc, char **argv)
{
    long chunks = parse_count(argc, argv, DEFAULT_CHUNKS);
    long expected_size = chunks * CHUNK_BYTES;
    unsigned char buf[CHUNK_BYTES];
    unsigned char want[CHUNK_BYTES];
    uint32_t written_sum = FNV_OFFSET;
    uint32_t read_sum = FNV_OFFSET;
    long written = 0;
    long nread = 0;

    remove_leftovers();
    if (mkdir(DIR_NAME, DIR_MODE) != 0)
        return fail("mkdir");

    /* Write the data file in chunks through a path relative to the cwd. */
    int fd = open(DATA_PATH, O_CREAT | O_WRONLY | O_TRUNC, FILE_MODE);
    if (fd < 0)
        return fail("open " DATA_PATH);
    for (long i = 0; i < chunks; i++) {
        fill_chunk(buf, i);
        ssize_t n = write(fd, buf, CHUNK_BYTES);
        if (n != CHUNK_BYTES)
            return fail("write");
        written += n;
        written_sum = fnv1a(written_sum, buf, (size_t)n);
    }
    if (close(fd) != 0)
        return fail("close");

    /* Reopen it relative to a directory descriptor; add a second file there. */
    int dirfd = open(DIR_NAME, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0)
        return fail("open " DIR_NAME);
    int note = openat(dirfd, NOTE_NAME, O_CREAT | O_WRONLY | O_TRUNC, FILE_MODE);
    if (note < 0 || write(note, note_text, sizeof note_text - 1) != sizeof note_text - 1)
        return fail("openat " NOTE_NAME);
    close(note);
    fd = openat(dirfd, DATA_NAME, O_RDONLY);
    if (fd < 0)
        return fail("openat " DATA_NAME);

    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail("fstat");
    long fstat_size = (long)st.st_size;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
            return fail("read");
        if (n == 0)
            break;
        nread += n;
        read_sum = fnv1a(read_sum, buf, (size_t)n);
    }

    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = lseek(fd, 0, SEEK_SET);
    if (end != expected_size || start != 0)
        return fail("lseek");

    /* pread the first, middle and last chunks; the file offset must not move. */
    long checked[] = {0, chunks / 2, chunks - 1};
    int pread_ok = 1;
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        off_t at = (off_t)checked[k] * CHUNK_BYTES;
        if (pread(fd, buf, CHUNK_BYTES, at) != CHUNK_BYTES)
            return fail("pread");
        fill_chunk(want, checked[k]);
        if (memcmp(buf, want, CHUNK_BYTES) != 0)
            pread_ok = 0;
    }
    if (lseek(fd, 0, SEEK_CUR) != 0)
        pread_ok = 0;
    close(fd);

    if (stat(DATA_PATH, &st) != 0)
        return fail("stat");
    long stat_size = (long)st.st_size;

    if (rename(DATA_PATH, RENAMED_PATH) != 0)
        return fail("rename");

    /* List the directory (readdir is getdents64 underneath); sort the names. */
    DIR *dir = opendir(DIR_NAME);
    if (dir == NULL)
        return fail("opendir");
    char *names[MAX_ENTRIES];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (count == MAX_ENTRIES)
            break;
        names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof names[0], compare_names);

    if (unlink(RENAMED_PATH) != 0 || unlinkat(dirfd, NOTE_NAME, 0) != 0)
        return fail("unlink");
    close(dirfd);
    if (rmdir(DIR_NAME) != 0)
        return fail("rmdir");
    int gone = access(DIR_NAME, F_OK) != 0 && errno == ENOENT;

    printf("fileio: wrote %ld bytes in %ld chunks of %d\n", written, chunks, CHUNK_BYTES);
    printf("fileio: read %ld bytes, checksum %08x (written %08x)\n", nread,
           (unsigned)read_sum, (unsigned)written_sum);
    printf("fileio: fstat size %ld, stat size %ld, lseek end %ld\n", fstat_size, stat_size,
           (long)end);
    printf("fileio: pread %s\n", pread_ok ? "ok" : "MISMATCH");
    printf("fileio: entries");
    for (size_t i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    printf("fileio: cleanup %s\n", gone ? "ok" : "FAILED");

    int ok = written == expected_size && nread == expected_size && read_sum == written_sum &&
             fstat_size == expected_size && stat_size == expected_size && pread_ok && gone &&
             count == 2;
    return ok ? 0 : 1;
}
