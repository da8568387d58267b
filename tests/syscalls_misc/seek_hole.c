/* lseek SEEK_DATA and SEEK_HOLE: data and holes by whole blocks, the end of the file
 * a hole, ENXIO at or past the end and for a negative offset; a file that ends in a
 * hole (ftruncate up) reports it. Pipes cannot seek. */
#include "check.h"

int main(void)
{
    int fd = open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644);
    T(lseek(fd, 0, SEEK_DATA)); /* empty: no data, and 0 is the end */
    T(lseek(fd, 0, SEEK_HOLE));
    T(write(fd, "0123456789", 10));
    T(lseek(fd, 0, SEEK_DATA));
    T(lseek(fd, 3, SEEK_DATA));
    T(lseek(fd, 3, SEEK_HOLE)); /* the end of the file */
    T(lseek(fd, 10, SEEK_DATA));
    T(lseek(fd, -1, SEEK_DATA));
    T(lseek(fd, -1, SEEK_HOLE));
    T(ftruncate(fd, 1 << 20));
    T(lseek(fd, 0, SEEK_DATA));
    T(lseek(fd, 0, SEEK_HOLE)); /* the data's block ends the data */
    T(lseek(fd, 5000, SEEK_HOLE));
    T(lseek(fd, 5000, SEEK_DATA));
    T(lseek(fd, (1 << 20) - 1, SEEK_HOLE));
    T(lseek(fd, 1 << 20, SEEK_HOLE));
    T(lseek(fd, 0, SEEK_CUR)); /* a failed seek leaves the offset alone */
    T(lseek(fd, 7, SEEK_HOLE));
    T(lseek(fd, 0, SEEK_CUR));
    static char block[8192];
    T(pwrite(fd, block, sizeof block, 0)); /* fill the first two blocks */
    T(lseek(fd, 0, SEEK_HOLE));
    T(lseek(fd, 100, 5));
    int p[2];
    pipe(p);
    T(lseek(p[0], 0, SEEK_DATA));
    close(fd);
    T(unlink("sparse"));
    return 0;
}
