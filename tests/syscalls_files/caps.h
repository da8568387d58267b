/* Capabilities the guests drop so that their native run and their run in a coffer
 * apply the same limits. Include after check.h (it uses T). */
#include <sys/syscall.h>
#include <unistd.h>

#define CAPABILITY_VERSION_3 0x20080522
#define CAP_SYS_RESOURCE 24

/* This machine's root lacks CAP_SYS_RESOURCE, which lifts the mqueue limits
 * (queues_max, msg_max and msgsize_max): drop it everywhere, so that both runs
 * apply the limits. capget/capset directly, as neither libc wraps them. */
static void drop_sys_resource(void)
{
    struct { unsigned version; int pid; } head = {CAPABILITY_VERSION_3, 0};
    struct { unsigned effective, permitted, inheritable; } data[2];
    syscall(SYS_capget, &head, data);
    data[0].effective &= ~(1u << CAP_SYS_RESOURCE);
    data[0].permitted &= ~(1u << CAP_SYS_RESOURCE);
    data[0].inheritable &= ~(1u << CAP_SYS_RESOURCE);
    T(syscall(SYS_capset, &head, data));
}
