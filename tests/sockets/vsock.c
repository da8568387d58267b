/* AF_VSOCK with no peer to reach: /dev/vsock's local CID, which types and
 * protocols socket() takes, the AF_VSOCK level's buffer sizes, bind (ports picked
 * and taken), listen, a non-blocking accept, and connect to the local CID, which
 * no transport reaches (ENODEV). What depends on whether the machine is a host
 * or a guest (the CID's value) is printed as a relation only. */
#include "check.h"
#include <linux/vm_sockets.h>
#include <sys/socket.h>

static void buffer(int fd, int option, const char *name)
{
    unsigned long long value = 0;
    socklen_t len = sizeof(value);
    int rc = getsockopt(fd, AF_VSOCK, option, &value, &len);
    printf("%s: rc %d len %u value %llu\n", name, rc, len, value);
}

static void set_buffer(int fd, int option, unsigned long long value)
{
    printf("setsockopt(%d, %llu) = %d\n", option, value,
           setsockopt(fd, AF_VSOCK, option, &value, sizeof(value)));
}

int main(void)
{
    int dev = T(open("/dev/vsock", O_RDONLY | O_CLOEXEC));
    unsigned cid = 0;
    T(ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid));
    printf("local cid is a real one: %s\n", cid != VMADDR_CID_ANY && cid >= 2 ? "yes" : "no");
    T(ioctl(dev, TCGETS, &cid));
    char byte;
    T(read(dev, &byte, 1));
    T(close(dev));

    T(socket(AF_VSOCK, SOCK_DGRAM, 0));
    T(socket(AF_VSOCK, SOCK_RAW, 0));
    T(socket(AF_VSOCK, SOCK_STREAM, 1));
    T(close(T(socket(AF_VSOCK, SOCK_SEQPACKET, 0))));
    int fds[2];
    T(socketpair(AF_VSOCK, SOCK_STREAM, 0, fds));
    int fd = T(socket(AF_VSOCK, SOCK_STREAM, 0));
    buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, "size");
    buffer(fd, SO_VM_SOCKETS_BUFFER_MIN_SIZE, "min");
    buffer(fd, SO_VM_SOCKETS_BUFFER_MAX_SIZE, "max");
    set_buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, 1 << 20);
    buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, "size past max");
    set_buffer(fd, SO_VM_SOCKETS_BUFFER_MAX_SIZE, 1 << 20);
    set_buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, 1 << 20);
    buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, "size");
    set_buffer(fd, SO_VM_SOCKETS_BUFFER_MIN_SIZE, 1 << 21);
    buffer(fd, SO_VM_SOCKETS_BUFFER_SIZE, "size below min");
    int small = 1;
    T(setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &small, sizeof(small)));
    T(setsockopt(fd, AF_VSOCK, 99, &small, sizeof(small)));
    T(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &small, sizeof(small)));

    struct sockaddr_vm name = {.svm_family = AF_VSOCK, .svm_cid = 77, .svm_port = 5000};
    T(bind(fd, (struct sockaddr *)&name, sizeof(name)));
    T(bind(fd, (struct sockaddr *)&name, 8));
    name.svm_family = AF_INET;
    T(bind(fd, (struct sockaddr *)&name, sizeof(name)));
    struct sockaddr_vm any = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                              .svm_port = VMADDR_PORT_ANY};
    T(listen(fd, 1));
    T(bind(fd, (struct sockaddr *)&any, sizeof(any)));
    T(bind(fd, (struct sockaddr *)&any, sizeof(any)));
    struct sockaddr_vm me;
    socklen_t len = sizeof(me);
    T(getsockname(fd, (struct sockaddr *)&me, &len));
    printf("bound: len %u family %d cid any %s port picked %s\n", len, me.svm_family,
           me.svm_cid == VMADDR_CID_ANY ? "yes" : "no", me.svm_port > 1023 ? "yes" : "no");
    int other = T(socket(AF_VSOCK, SOCK_STREAM, 0));
    struct sockaddr_vm same = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                               .svm_port = me.svm_port};
    T(bind(other, (struct sockaddr *)&same, sizeof(same)));
    T(listen(fd, 1));
    T(fcntl(fd, F_SETFL, O_NONBLOCK));
    T(accept(fd, NULL, NULL));
    T(getpeername(fd, (struct sockaddr *)&me, &len));

    int client = T(socket(AF_VSOCK, SOCK_STREAM, 0));
    struct sockaddr_vm local = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = 5000};
    T(connect(client, (struct sockaddr *)&local, sizeof(local)));
    T(send(client, "x", 1, MSG_NOSIGNAL));
    T(recv(client, &byte, 1, MSG_DONTWAIT));
    T(shutdown(client, SHUT_RDWR));
    T(close(client));
    T(close(other));
    T(close(fd));
    return 0;
}
