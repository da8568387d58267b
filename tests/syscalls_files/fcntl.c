/* fcntl, dup, dup2, dup3 and ioctl. */
#include "check.h"

int main(void)
{
    char buf[16];
    int fd = T(open("f", O_RDWR | O_CREAT | O_TRUNC, 0644));
    T(fcntl(fd, F_GETFD));
    T(fcntl(fd, F_SETFD, FD_CLOEXEC));
    T(fcntl(fd, F_GETFD));
    T(fcntl(fd, F_SETFD, 0));
    T(fcntl(fd, F_GETFD));
    printf("GETFL %#x\n", fcntl(fd, F_GETFL));
    T(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK | O_RDONLY | O_TRUNC | O_CREAT));
    printf("GETFL %#x\n", fcntl(fd, F_GETFL));
    T(fcntl(fd, F_SETFL, 0));
    printf("GETFL %#x\n", fcntl(fd, F_GETFL));
    T(fcntl(fd, F_DUPFD, 10));
    T(fcntl(fd, F_DUPFD, 10));
    int c = T(fcntl(fd, F_DUPFD_CLOEXEC, 10));
    T(fcntl(c, F_GETFD));
    T(fcntl(10, F_GETFD));
    T(fcntl(fd, F_DUPFD, 0x7fffffff));
    T(fcntl(fd, F_DUPFD, -1));
    T(fcntl(fd, 999));
    T(fcntl(999, F_GETFD));
    T(fcntl(-1, F_GETFL));

    /* dup shares the offset and status flags, not close-on-exec */
    int d = T(dup(fd));
    T(write(fd, "abc", 3));
    T(lseek(d, 0, SEEK_CUR));
    T(fcntl(fd, F_SETFL, O_APPEND));
    printf("dup GETFL %#x\n", fcntl(d, F_GETFL));
    T(fcntl(fd, F_SETFL, 0));
    T(dup(999));
    T(dup(-1));
    T(dup2(fd, fd));
    T(dup2(999, 999));
    T(dup2(fd, 20));
    T(dup2(1, 20));
    T(lseek(20, 0, SEEK_CUR));
    T(dup2(fd, 20));
    T(lseek(20, 0, SEEK_CUR));
    T(syscall(SYS_dup2, fd, -1));
    T(dup2(fd, 0x7fffffff));
    T(dup3(fd, fd, 0));
    T(dup3(fd, 21, O_CLOEXEC));
    T(fcntl(21, F_GETFD));
    T(dup3(fd, 22, 1));
    T(dup3(fd, 0x7fffffff, 0));
    T(dup3(999, 22, 0));
    T(close(20));
    T(close(21));
    T(lseek(fd, 0, SEEK_CUR));

    /* O_PATH descriptors take only a few commands */
    int p = T(open("f", O_PATH));
    printf("path GETFL %#x\n", fcntl(p, F_GETFL));
    T(fcntl(p, F_SETFL, 0));
    T(fcntl(p, F_SETFD, FD_CLOEXEC));
    T(fcntl(p, F_GETFD));
    T(dup(p) > 0);
    T(ioctl(p, FIOCLEX));

    /* ioctl: no terminals, but the generic requests work */
    struct termios tio;
    struct winsize ws;
    T(ioctl(fd, TCGETS, &tio));
    T(ioctl(0, TCGETS, &tio));
    T(ioctl(1, TIOCGWINSZ, &ws));
    T(ioctl(1, TIOCSWINSZ, &ws));
    T(ioctl(2, TCSETS, &tio));
    T(ioctl(1, TIOCGPGRP, buf));
    T(isatty(0));
    T(isatty(1));
    T(ioctl(fd, FIOCLEX));
    T(fcntl(fd, F_GETFD));
    T(ioctl(fd, FIONCLEX));
    T(fcntl(fd, F_GETFD));
    int on = 1;
    T(ioctl(fd, FIONBIO, &on));
    printf("GETFL %#x\n", fcntl(fd, F_GETFL));
    on = 0;
    T(ioctl(fd, FIONBIO, &on));
    printf("GETFL %#x\n", fcntl(fd, F_GETFL));
    T(ioctl(fd, FIONBIO, BAD_POINTER));
    int left = -1;
    T(write(fd, "0123456", 7));
    T(lseek(fd, 3, SEEK_SET));
    T(ioctl(fd, FIONREAD, &left));
    printf("FIONREAD %d\n", left);
    T(ioctl(999, TCGETS, &tio));
    T(ioctl(fd, 0x12345678, 0));
    int null = T(open("/dev/null", O_RDWR));
    T(ioctl(null, TCGETS, &tio));
    T(ioctl(null, FIOCLEX));
    return 0;
}
