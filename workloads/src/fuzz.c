/* fuzz: a hostile guest that makes seeded random system calls with adversarial arguments.
 *
 *     fuzz CALLS SEED [BATCH]
 *
 * No libc (-nostdlib, inline SYSCALL), so that nothing between the fuzzer and the kernel
 * checks or rewrites an argument. The first process (the coffer's init) is a supervisor
 * that makes no random call itself: it forks one fuzzing child at a time, each with a
 * batch of BATCH calls (default 64) seeded by (SEED, child index), and reaps it. A child
 * that blocks for good, stops itself or spins is killed with SIGKILL when the
 * supervisor's alarm (BACKSTOP_US of simulated time) interrupts its wait4. CALLS are
 * drawn in ceil(CALLS / BATCH) children; a child that ends itself early (a fatal signal
 * it sent itself, exit, a garbage rt_sigreturn) makes fewer: the simulator counts the
 * calls that were made. The supervisor's last line says
 *
 *     fuzz: calls N children C seed S
 *
 * (N: the calls drawn). The sequence depends only on SEED and the kernel's answers.
 *
 * What a child calls: any number of the kernel's table (FUZZ_CALLS, generated from
 * cofferos.coffers.syscalls.table) and a few numbers that are not in it, with arguments
 * drawn by the kind of each: bad pointers (NULL, unmapped, kernel half, non-canonical,
 * misaligned, PROT_NONE, read-only code, the last bytes of a mapping), sizes from 0 to
 * 2^64-1, valid, closed and absurd descriptors, paths (.., symlink loops, /proc, 8 KiB
 * long, unterminated at a guard page), and "nested" pointers to slots of random words:
 * an iovec, msghdr, sigaction, timespec or fd_set read from a slot has pointers, sizes
 * and times drawn from the same pools (extreme seconds, out-of-range nanoseconds).
 *
 * What a child may not do, so that the fuzzer is not ended early by its own hand:
 * name its supervisor (pid 1) or the supervisor's group in a pid argument (it runs in
 * its own session, so kill(0, ...) and kill(-1, ...) reach only fuzzing processes);
 * unmap or remap anything but its arena (address arguments of mmap, munmap, mprotect,
 * mremap, madvise and brk come from the arena and from addresses that map nothing of
 * the program). exit, exit_group, rt_sigreturn, pause and the like are rare: a child
 * may make them. A process or thread that fork, vfork, clone or clone3 creates exits
 * at once, without touching its stack (the call's instruction is followed by exit).
 *
 * Safety: it refuses to run outside a coffer (where /dev/coffer/ops does not exist):
 * natively these calls would be made to the host's kernel.
 */

typedef unsigned long u64;
typedef long i64;

#define PAGE 4096UL
#define DEFAULT_BATCH 64
#define ARENA_PAGES 8
#define DATA_PAGES 8                 /* 0: strings, 1-2: a long path, 3-7: slots */
#define SLOT_WORDS 16
#define SLOTS ((5 * PAGE) / (SLOT_WORDS * 8))
#define LONG_PATH_BYTES (2 * PAGE - 1)
#define NFDS 24
#define BACKSTOP_US 20000            /* simulated time a child may take: 20 ms */
#define CHILD_TICK_US 2000           /* a child's own interval timer: 2 ms */
#define KERNEL_HALF 0xffff888000000000UL
#define NON_CANONICAL 0x0000800000000000UL
#define VSYSCALL 0xffffffffff600000UL
#define FAR_USER 0x0000100000000000UL /* 16 TiB: far from the program, its stack and mmaps */
#define KTIME_MAX_SEC 9223372036UL
#define MAX_RW_COUNT 0x7ffff000UL
#define AT_FDCWD (-100)

/* x86-64 numbers and constants (arch/x86/entry/syscalls/syscall_64.tbl, uapi headers). */
enum {
    NR_read = 0, NR_write = 1, NR_open = 2, NR_close = 3, NR_mmap = 9, NR_mprotect = 10,
    NR_munmap = 11, NR_brk = 12, NR_rt_sigaction = 13, NR_rt_sigreturn = 15, NR_mremap = 25,
    NR_madvise = 28, NR_dup = 32, NR_pause = 34, NR_nanosleep = 35, NR_setitimer = 38,
    NR_getpid = 39, NR_socket = 41, NR_bind = 49, NR_listen = 50, NR_socketpair = 53,
    NR_clone = 56, NR_fork = 57, NR_vfork = 58, NR_exit = 60, NR_wait4 = 61, NR_kill = 62,
    NR_mkdir = 83, NR_symlink = 88, NR_setpgid = 109, NR_setsid = 112, NR_getpgid = 121,
    NR_getsid = 124, NR_rt_sigsuspend = 130, NR_getpriority = 140, NR_setpriority = 141,
    NR_sched_setparam = 142, NR_sched_getparam = 143, NR_sched_setscheduler = 144,
    NR_sched_getscheduler = 145, NR_tkill = 200, NR_sched_setaffinity = 203,
    NR_sched_getaffinity = 204, NR_exit_group = 231, NR_tgkill = 234, NR_waitid = 247,
    NR_timerfd_create = 283, NR_eventfd2 = 290, NR_epoll_create1 = 291, NR_pipe2 = 293,
    NR_prlimit64 = 302, NR_memfd_create = 319, NR_clone3 = 435,
};
#define O_RDONLY 0
#define O_RDWR 2
#define O_CREAT 0100
#define O_DIRECTORY 0200000
#define PROT_NONE 0
#define PROT_RW 3
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define SIGKILL 9
#define SIGALRM 14
#define SIGSTOP 19
#define MAX_SIGNAL 64
#define SA_RESTART 0x10000000
#define SA_RESTORER 0x04000000
#define ITIMER_REAL 0
#define WNOHANG 1
#define EINTR 4
#define ECHILD 10
#define AF_UNIX 1
#define AF_INET 2
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define CLOCK_MONOTONIC 1

static inline i64 sys6(u64 n, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
{
    register u64 r10 __asm__("r10") = d;
    register u64 r8 __asm__("r8") = e;
    register u64 r9 __asm__("r9") = f;
    i64 ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* fork, vfork, clone, clone3: the new process or thread (RAX 0) exits at once, before
 * it returns to C code, so that a shared or garbage stack is never used. */
static inline i64 sys6_spawn(u64 n, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
{
    register u64 r10 __asm__("r10") = d;
    register u64 r8 __asm__("r8") = e;
    register u64 r9 __asm__("r9") = f;
    i64 ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define sys0(n) sys6((n), 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6((n), (u64)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6((n), (u64)(a), (u64)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6((n), (u64)(a), (u64)(b), (u64)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6((n), (u64)(a), (u64)(b), (u64)(c), (u64)(d), 0, 0)

/* _start: argc at (%rsp), argv after it. */
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    xor %rbp, %rbp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call fuzz_main\n"
        "    hlt\n"
        /* the signal trampoline (SA_RESTORER): rt_sigreturn */
        ".globl fuzz_restorer\n"
        "fuzz_restorer:\n"
        "    mov $15, %eax\n"
        "    syscall\n"
        "    hlt\n");
void fuzz_restorer(void);

/* One entry per call of the kernel's table: its number and the kinds of its arguments
 * (f fd, d dirfd, p pointer, s size, o offset, P path, S string, i/u integer, h flags,
 * m mode, O open flags, r prot, M map flags, g signal, c clock, w whence).
 * Generated from cofferos.coffers.syscalls.table.default_table(); calls added to the
 * kernel later are still reached through the unlisted numbers. */
struct call { unsigned short nr; const char *kinds; };
static const struct call FUZZ_CALLS[] = {
    {0, "fps"}, {1, "fps"}, {2, "POm"}, {3, "f"}, {4, "Pp"}, {5, "fp"}, {6, "Pp"}, {7, "pui"},
    {8, "fow"}, {9, "hsrMfo"}, {10, "hsr"}, {11, "hs"}, {12, "h"}, {13, "gpps"}, {14, "ipps"},
    {15, ""}, {16, "fhh"}, {17, "fpso"}, {18, "fpso"}, {19, "fpi"}, {20, "fpi"}, {21, "Pi"},
    {22, "p"}, {23, "ipppp"}, {24, ""}, {25, "hsshh"}, {28, "hsi"}, {32, "f"}, {33, "ff"},
    {34, ""}, {35, "pp"}, {36, "ip"}, {37, "u"}, {38, "ipp"}, {39, ""}, {40, "ffps"}, {41, "iii"},
    {42, "fpi"}, {43, "fpp"}, {44, "fpshpi"}, {45, "fpshpp"}, {46, "fph"}, {47, "fph"}, {48, "fi"},
    {49, "fpi"}, {50, "fi"}, {51, "fpp"}, {52, "fpp"}, {53, "iiip"}, {54, "fiipi"}, {55, "fiipp"},
    {56, "hpppp"}, {57, ""}, {58, ""}, {59, "Ppp"}, {60, "i"}, {61, "iphp"}, {62, "ig"}, {63, "p"},
    {72, "fih"}, {73, "fi"}, {74, "f"}, {75, "f"}, {76, "Po"}, {77, "fo"}, {79, "ps"}, {80, "P"},
    {81, "f"}, {82, "PP"}, {83, "Pm"}, {84, "P"}, {85, "Pm"}, {86, "PP"}, {87, "P"}, {88, "SP"},
    {89, "Pps"}, {90, "Pm"}, {91, "fm"}, {92, "Pii"}, {93, "fii"}, {94, "Pii"}, {95, "m"},
    {96, "pp"}, {97, "ip"}, {98, "ip"}, {99, "p"}, {100, "p"}, {102, ""}, {104, ""}, {105, "u"},
    {106, "u"}, {107, ""}, {108, ""}, {109, "ii"}, {110, ""}, {111, ""}, {112, ""}, {113, "ii"},
    {114, "ii"}, {115, "ip"}, {116, "ip"}, {117, "iii"}, {118, "ppp"}, {119, "iii"}, {120, "ppp"},
    {121, "i"}, {122, "u"}, {123, "u"}, {124, "i"}, {127, "ps"}, {128, "ppps"}, {130, "ps"},
    {131, "pp"}, {132, "Pp"}, {133, "Pmh"}, {137, "Pp"}, {138, "fp"}, {140, "ii"}, {141, "iii"},
    {142, "ip"}, {143, "ip"}, {144, "iip"}, {145, "i"}, {146, "i"}, {147, "i"}, {157, "ihhhh"},
    {158, "hh"}, {160, "ip"}, {162, ""}, {165, "SPShp"}, {166, "Ph"}, {186, ""}, {200, "ig"},
    {201, "p"}, {202, "piipph"}, {203, "isp"}, {204, "isp"}, {213, "i"}, {217, "fps"}, {218, "p"},
    {221, "fosi"}, {228, "cp"}, {229, "cp"}, {230, "chpp"}, {231, "i"}, {232, "fpii"},
    {233, "fifp"}, {234, "iig"}, {235, "Pp"}, {240, "SOmp"}, {241, "S"},
    {242, "fpsup"}, {243, "fpspp"}, {244, "fp"}, {245, "fpp"}, {247, "iiphp"}, {257, "dPOm"}, {258, "dPm"},
    {259, "dPmh"}, {260, "dPiih"}, {261, "dPp"}, {262, "dPph"}, {263, "dPh"}, {264, "dPdP"},
    {265, "dPdPh"}, {266, "SdP"}, {267, "dPps"}, {268, "dPm"}, {269, "dPi"}, {270, "ippppp"},
    {271, "pupps"}, {273, "ps"}, {277, "fooh"}, {280, "dPph"}, {281, "fpiips"}, {283, "ch"},
    {284, "u"}, {285, "fhoo"}, {286, "fhpp"}, {287, "fp"}, {288, "fpph"}, {290, "uh"}, {291, "h"},
    {292, "ffO"}, {293, "pO"}, {302, "iipp"}, {306, "f"}, {309, "ppp"}, {316, "dPdPh"},
    {318, "psh"}, {319, "Sh"}, {322, "dPpph"}, {326, "fpfpsh"}, {332, "dPhhp"}, {334, "pshh"},
    {435, "ps"}, {439, "dPih"}, {441, "fpipps"}, {452, "dPmh"},
};
#define NCALLS (sizeof(FUZZ_CALLS) / sizeof(FUZZ_CALLS[0]))

/* ---- small helpers (no libc) ---------------------------------------------------------- */

static u64 rng_state;

static u64 splitmix(u64 x)
{
    x += 0x9e3779b97f4a7c15UL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
    return x ^ (x >> 31);
}

static u64 next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dUL;
}

static u64 below(u64 n) { return n ? next() % n : 0; }
static int chance(u64 percent) { return below(100) < percent; }

static u64 length(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *s) { sys3(NR_write, 1, s, length(s)); }

static char *put_number(char *out, u64 value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        *out++ = digits[--n];
    return out;
}

static int parse_number(const char *s, u64 *value)
{
    u64 v = 0;
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (u64)(*s - '0');
    }
    *value = v;
    return 1;
}

static void fill(char *to, char byte, u64 n)
{
    for (u64 i = 0; i < n; i++)
        ((volatile char *)to)[i] = byte;
}

/* ---- the child's world: arena, data (strings, long path, slots), descriptors -------- */

static u64 arena, arena_end, hole, prot_none_page;
static u64 data, data_end;          /* data_end is followed by a PROT_NONE guard page */
static i64 fds[NFDS];
static int nfds;
static i64 self_pid, last_child;

static const char *const PATHS[] = {
    "/", ".", "..", "", "/tmp", "/tmp/fz", "/tmp/fz/f", "/tmp/fz/d", "/tmp/fz/loop",
    "/tmp/fz/up", "/tmp/fz/up/passwd", "/tmp/fz/../../../../..", "//tmp//fz/./f/", "fz",
    "/tmp/fz/f/x", "/tmp/fz/new", "/tmp/fz/d/new", "/proc/self/exe", "/proc/self/fd/3",
    "/proc/self/fd", "/proc/self/maps", "/proc/self/status", "/proc/1/status",
    "/proc/self/cwd/..", "/proc/self/root/..", "/proc/self/task", "/proc/meminfo",
    "/proc", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/full", "/dev/coffer/ops",
    "/dev/shm/x", "/etc", "/sys", "/tmp/fz/\xff\xfe", "/tmp/fz/a\nb",
};
#define NPATHS (sizeof(PATHS) / sizeof(PATHS[0]))

static u64 pick_number(void)
{
    switch (below(17)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return below(8);
    case 3: return below(64);
    case 4: return below(PAGE);
    case 5: return 0x7fffffffUL;
    case 6: return 0x80000000UL;
    case 7: return 0xffffffffUL;
    case 8: return 0x100000000UL + below(8);
    case 9: return 0x7fffffffffffffffUL;
    case 10: return 0x8000000000000000UL;
    case 11: return (u64)-1 - below(4);
    case 12: return 1UL << below(64);
    case 13: return MAX_RW_COUNT;
    case 14: return KTIME_MAX_SEC + below(2);
    case 15: return 999999999UL + below(3);   /* around NSEC_PER_SEC - 1 */
    default: return next();
    }
}

static u64 pick_flags(void)
{
    u64 flags = 0;
    for (u64 n = below(4); n; n--)
        flags |= 1UL << below(32);
    return chance(10) ? next() : flags;
}

static u64 pick_size(void)
{
    switch (below(11)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return below(32);
    case 3: return 8 * below(64);
    case 4: return PAGE;
    case 5: return PAGE * below(ARENA_PAGES + 2);
    case 6: return MAX_RW_COUNT;
    case 7: return 0x80000000UL;
    case 8: return 1UL << 40;
    case 9: return (u64)-1;
    default: return pick_number();
    }
}

static u64 pick_path(void)
{
    switch (below(12)) {
    case 0: return data + PAGE;                        /* longer than PATH_MAX */
    case 1: return data + 3 * PAGE - 200;              /* the tail of it: a long last part */
    case 2: return data_end - 3;                       /* "abc" unterminated at the guard */
    case 3: return 0;
    case 4: return KERNEL_HALF;
    default: return (u64)PATHS[below(NPATHS)];
    }
}

static u64 pick_fd(void)
{
    switch (below(12)) {
    case 0: return (u64)-1;
    case 1: return below(3);
    case 2: return 1023 + below(2);                     /* the limit's edge */
    case 3: return 0x7fffffffUL;
    case 4: return 0x100000000UL | (u64)fds[below(nfds)];  /* high bits set */
    default: return (u64)fds[below(nfds)];
    }
}

/* Addresses that the memory calls may map, unmap or change: the arena, or nothing of
 * the program. */
static u64 pick_region(void)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return hole;
    case 2: return prot_none_page;
    case 3: return arena + below(ARENA_PAGES * PAGE);   /* misaligned */
    case 4: return KERNEL_HALF;
    case 5: return FAR_USER + PAGE * below(16);
    case 6: return NON_CANONICAL - PAGE;
    default: return arena + PAGE * below(ARENA_PAGES);
    }
}

static u64 pick_region_length(void)
{
    return chance(90) ? PAGE * below(ARENA_PAGES + 1) + (chance(10) ? below(PAGE) : 0)
                      : pick_size();
}

static u64 pick_flat_pointer(void)
{
    switch (below(14)) {
    case 0: return 0;
    case 1: return below(PAGE);                          /* the NULL page */
    case 2: return arena + 8 * below(ARENA_PAGES * PAGE / 8);
    case 3: return arena + below(ARENA_PAGES * PAGE);   /* misaligned */
    case 4: return arena_end - 1 - below(16);           /* the last bytes of a mapping */
    case 5: return hole + below(PAGE);                  /* unmapped */
    case 6: return prot_none_page + below(PAGE);
    case 7: return KERNEL_HALF + 8 * below(512);
    case 8: return NON_CANONICAL - below(16);
    case 9: return VSYSCALL;
    case 10: return (u64)-1 - below(16);
    case 11: return (u64)&fuzz_restorer;                /* read-only code */
    case 12: return data_end - 1 - below(32);           /* runs into the guard page */
    default: return pick_path();
    }
}

/* A slot of random words: what a nested structure (iovec, msghdr, sigaction,
 * timespec, pollfd, sockaddr, clone_args ...) read from it contains. */
static u64 pick_slot(void)
{
    u64 index = below(SLOTS);
    u64 *slot = (u64 *)(data + 3 * PAGE) + index * SLOT_WORDS;
    for (int i = 0; i < SLOT_WORDS; i++) {
        u64 word;
        switch (below(10)) {
        case 0: case 1: case 2: word = pick_flat_pointer(); break;
        case 3: word = data + 3 * PAGE + 8 * SLOT_WORDS * below(SLOTS); break; /* nested */
        case 4: case 5: case 6: word = pick_number(); break;
        case 7: word = (u64)fds[below(nfds)]; break;
        default: word = below(16); break;
        }
        ((volatile u64 *)slot)[i] = word;
    }
    u64 address = (u64)slot;
    if (chance(10))
        address += 1 + below(7);                         /* misaligned */
    if (index == SLOTS - 1 && chance(50))
        address = data_end - 8 * (1 + below(4));         /* runs into the guard page */
    return address;
}

static u64 pick_pointer(void)
{
    return chance(55) ? pick_slot() : pick_flat_pointer();
}

/* Never the supervisor (pid 1, group 1) nor a parent: a pid argument names this child,
 * its own group, the fuzzing processes (0, -1), one it made, or nobody. */
static u64 pick_pid(void)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return (u64)-1;
    case 2: return (u64)self_pid;
    case 3: return (u64)-self_pid;
    case 4: return (u64)last_child;
    case 5: return 99999;
    case 6: return 0x80000000UL;                         /* INT_MIN */
    case 7: return 0x7fffffffUL;
    case 8: return 4194304 + below(8);                   /* past PID_MAX_LIMIT */
    default: return (u64)self_pid + below(4);            /* itself, or one after it */
    }
}

static int is_pid_arg(u64 nr, int index)
{
    switch (nr) {
    case NR_kill: case NR_tkill: case NR_getpgid: case NR_getsid: case NR_wait4:
    case NR_sched_setparam: case NR_sched_getparam: case NR_sched_setscheduler:
    case NR_sched_getscheduler: case NR_sched_setaffinity: case NR_sched_getaffinity:
    case NR_prlimit64:
        return index == 0;
    case NR_setpgid: case NR_tgkill:
        return index <= 1;
    case NR_waitid: case NR_getpriority: case NR_setpriority:
        return index == 1;
    }
    return 0;
}

static u64 pick_arg(char kind)
{
    switch (kind) {
    case 'f': return pick_fd();
    case 'd': return chance(30) ? (u64)AT_FDCWD : pick_fd();
    case 'p': return pick_pointer();
    case 's': return pick_size();
    case 'o': return chance(50) ? below(2 * PAGE) : pick_number();
    case 'P': return pick_path();
    case 'S': return chance(70) ? pick_path() : pick_pointer();
    case 'O': case 'M': case 'h': return chance(50) ? pick_flags() : pick_number();
    case 'r': return below(8) | (chance(10) ? pick_flags() : 0);
    case 'g': return chance(85) ? below(65) : pick_number();
    case 'c': return chance(85) ? below(12) : pick_number();
    case 'w': return chance(85) ? below(5) : pick_number();
    case 'm': return chance(70) ? below(010000) : pick_number();
    default: return chance(60) ? below(64) : pick_number();
    }
}

/* Calls that end or stall the child, or leave it in a state it cannot fuzz from: made,
 * but rarely (percent of the times they are drawn). */
static u64 keep_percent(u64 nr)
{
    switch (nr) {
    case NR_exit: case NR_exit_group: return 2;
    case NR_rt_sigreturn: case NR_pause: case NR_rt_sigsuspend: case NR_vfork:
        return 20;
    }
    return 100;
}

static u64 pick_call(const char **kinds)
{
    for (;;) {
        if (chance(2)) {                                  /* a number not in the table */
            *kinds = "hhhhhh";
            switch (below(4)) {
            case 0: return 335 + below(100);              /* the gap before clone3 */
            case 1: return 0x40000000UL | below(600);     /* the x32 bit */
            case 2: return 460 + below(600);
            default: return (u64)-1 - below(2);
            }
        }
        const struct call *call = &FUZZ_CALLS[below(NCALLS)];
        if (!chance(keep_percent(call->nr)))
            continue;
        *kinds = call->kinds;
        return call->nr;
    }
}

static int is_spawn(u64 nr) { return nr == NR_fork || nr == NR_vfork || nr == NR_clone || nr == NR_clone3; }

static int is_memory_call(u64 nr)
{
    return nr == NR_mmap || nr == NR_munmap || nr == NR_mprotect || nr == NR_mremap ||
           nr == NR_madvise || nr == NR_brk;
}

static void fuzz_one(void)
{
    const char *kinds;
    u64 nr = pick_call(&kinds);
    u64 args[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; kinds[i] && i < 6; i++)
        args[i] = is_pid_arg(nr, i) ? pick_pid() : pick_arg(kinds[i]);
    if (is_memory_call(nr)) {
        args[0] = pick_region();
        if (nr != NR_brk)
            args[1] = pick_region_length();
        if (nr == NR_mremap) {
            args[2] = pick_region_length();
            args[4] = pick_region();
        }
    }
    for (u64 i = length(kinds); i < 6; i++)               /* unused registers: garbage */
        args[i] = pick_number();
    i64 ret;
    if (is_spawn(nr)) {
        ret = sys6_spawn(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        if (ret > 0)
            last_child = ret;
    } else {
        ret = sys6(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    }
    (void)ret;
}

/* ---- setting up a child -------------------------------------------------------------- */

static volatile int alarm_fired;

static void on_signal(int sig)
{
    if (sig == SIGALRM)
        alarm_fired = 1;
}

struct kernel_sigaction { u64 handler, flags, restorer, mask; };
struct timeval { i64 sec, usec; };
struct itimerval { struct timeval interval, value; };

/* SIGALRM runs a handler without SA_RESTART: a blocked call returns EINTR. */
static void catch_alarm(void)
{
    struct kernel_sigaction action = {(u64)on_signal, SA_RESTORER, (u64)fuzz_restorer, 0};
    sys4(NR_rt_sigaction, SIGALRM, &action, 0, 8);
}

/* The supervisor outlives any signal a fuzzing process can make reach it (a child's
 * exit signal, chosen by clone, goes to its parent), as a namespace's init does: each
 * catchable one runs the handler and restarts the interrupted call. */
static void catch_strays(void)
{
    struct kernel_sigaction action = {(u64)on_signal, SA_RESTORER | SA_RESTART,
                                      (u64)fuzz_restorer, 0};
    for (u64 sig = 1; sig <= MAX_SIGNAL; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGALRM)
            sys4(NR_rt_sigaction, sig, &action, 0, 8);
}

static void set_timer(i64 interval_us, i64 value_us)
{
    struct itimerval timer = {{interval_us / 1000000, interval_us % 1000000},
                              {value_us / 1000000, value_us % 1000000}};
    sys3(NR_setitimer, ITIMER_REAL, &timer, 0);
}

static u64 map(u64 pages, u64 flags)
{
    i64 address = sys6(NR_mmap, 0, pages * PAGE, PROT_RW, flags | MAP_ANONYMOUS, (u64)-1, 0);
    return address < 0 ? 0 : (u64)address;
}

static void add_fd(i64 fd)
{
    if (fd >= 0 && nfds < NFDS)
        fds[nfds++] = fd;
}

static int set_up_child(void)
{
    self_pid = sys0(NR_getpid);
    sys0(NR_setsid);                   /* its own session and group: kill(0) is its own */
    catch_alarm();
    set_timer(CHILD_TICK_US, CHILD_TICK_US);

    /* The arena (what memory calls may change): ARENA_PAGES pages, one of them
     * PROT_NONE, and the page after it unmapped. */
    arena = map(ARENA_PAGES + 1, MAP_PRIVATE);
    data = map(DATA_PAGES + 1, MAP_PRIVATE);
    if (!arena || !data)
        return 0;
    arena_end = arena + ARENA_PAGES * PAGE;
    hole = arena_end;
    sys2(NR_munmap, hole, PAGE);
    prot_none_page = arena + 2 * PAGE;
    sys3(NR_mprotect, prot_none_page, PAGE, PROT_NONE);
    data_end = data + DATA_PAGES * PAGE;
    sys3(NR_mprotect, data_end, PAGE, PROT_NONE);
    fill((char *)data + PAGE, 'a', LONG_PATH_BYTES);          /* a path of 8191 'a's ... */
    for (u64 i = 1; i < LONG_PATH_BYTES - 200; i += 2)
        ((volatile char *)data)[PAGE + i] = '/';               /* ... as a/a/a/.../aaaa */
    ((volatile char *)data)[PAGE + LONG_PATH_BYTES] = 0;
    fill((char *)data_end - 3, 'c', 3);                        /* unterminated */

    sys2(NR_mkdir, "/tmp", 01777);
    sys2(NR_mkdir, "/tmp/fz", 0755);
    sys2(NR_mkdir, "/tmp/fz/d", 0755);
    sys2(NR_symlink, "loop", "/tmp/fz/loop");
    sys2(NR_symlink, "/../../../../etc", "/tmp/fz/up");

    nfds = 0;
    add_fd(sys3(NR_open, "/dev/null", O_RDWR, 0));
    add_fd(sys3(NR_open, "/tmp/fz/f", O_RDWR | O_CREAT, 0644));
    if (nfds > 1)
        sys3(NR_write, fds[1], "fuzz\n", 5);
    int pipe_fds[2] = {-1, -1};
    sys2(NR_pipe2, pipe_fds, 0);
    add_fd(pipe_fds[0]);
    add_fd(pipe_fds[1]);
    int sockets[2] = {-1, -1};
    sys4(NR_socketpair, AF_UNIX, SOCK_STREAM, 0, sockets);
    add_fd(sockets[0]);
    add_fd(sockets[1]);
    add_fd(sys2(NR_eventfd2, 0, 0));
    add_fd(sys1(NR_epoll_create1, 0));
    add_fd(sys2(NR_timerfd_create, CLOCK_MONOTONIC, 0));
    i64 listener = sys3(NR_socket, AF_INET, SOCK_STREAM, 0);
    if (listener >= 0) {
        /* struct sockaddr_in 127.0.0.1:port, the port from the seed */
        unsigned char address[16] = {AF_INET, 0, 0, 0, 127, 0, 0, 1};
        u64 port = 20000 + below(20000);
        address[2] = (unsigned char)(port >> 8);
        address[3] = (unsigned char)port;
        sys3(NR_bind, listener, address, sizeof(address));
        sys2(NR_listen, listener, 4);
    }
    add_fd(listener);
    add_fd(sys3(NR_socket, AF_INET, SOCK_DGRAM, 0));
    add_fd(sys3(NR_socket, AF_UNIX, SOCK_DGRAM, 0));
    add_fd(sys3(NR_open, "/", O_RDONLY | O_DIRECTORY, 0));
    add_fd(sys3(NR_open, "/proc/self", O_RDONLY | O_DIRECTORY, 0));
    add_fd(sys2(NR_memfd_create, "fz", 0));
    add_fd(sys3(NR_open, "/dev/urandom", O_RDONLY, 0));
    i64 closed = sys1(NR_dup, 0);
    sys1(NR_close, closed);
    add_fd(closed);                                            /* a closed descriptor */
    add_fd(AT_FDCWD);
    if (nfds == 0)
        add_fd(0);
    return 1;
}

static void fuzz_child(u64 seed, u64 index, u64 calls)
{
    rng_state = splitmix(seed ^ splitmix(index)) | 1;
    if (!set_up_child())
        sys1(NR_exit_group, 1);
    for (u64 i = 0; i < calls; i++)
        fuzz_one();
    sys1(NR_exit_group, 0);
}

/* ---- the supervisor -------------------------------------------------------------------- */

static void reap(i64 child)
{
    int status;
    alarm_fired = 0;
    set_timer(0, BACKSTOP_US);
    for (;;) {
        i64 ret = sys4(NR_wait4, child, &status, 0, 0);
        if (ret == child || ret == -ECHILD)
            break;
        if (ret == -EINTR && alarm_fired) {  /* the backstop: the child took too long */
            sys2(NR_kill, -child, SIGKILL);
            sys2(NR_kill, child, SIGKILL);
        }
    }
    set_timer(0, 0);
    while (sys4(NR_wait4, -1, &status, WNOHANG, 0) > 0)
        ;                                    /* orphans the child left */
}

static int usage(void)
{
    say("usage: fuzz CALLS SEED [BATCH]   (inside a coffer only)\n");
    return 2;
}

int fuzz_main(u64 *sp)
{
    u64 argc = sp[0];
    char **argv = (char **)(sp + 1);
    u64 calls = 0, seed = 0, batch = DEFAULT_BATCH;
    if (argc < 3 || argc > 4 || !parse_number(argv[1], &calls) ||
        !parse_number(argv[2], &seed) || (argc == 4 && !parse_number(argv[3], &batch)) ||
        batch == 0)
        sys1(NR_exit_group, usage());
    i64 ops = sys3(NR_open, "/dev/coffer/ops", O_RDONLY, 0);
    if (ops < 0) {
        say("fuzz: /dev/coffer/ops is missing: refusing to fuzz a kernel that is not a coffer's\n");
        sys1(NR_exit_group, 2);
    }
    sys1(NR_close, ops);
    catch_strays();
    catch_alarm();
    u64 children = (calls + batch - 1) / batch;
    for (u64 index = 0; index < children; index++) {
        u64 left = calls - index * batch;
        i64 child = sys0(NR_fork);
        if (child == 0)
            fuzz_child(seed, index, left < batch ? left : batch);
        if (child > 0)
            reap(child);
    }
    sys2(NR_kill, -1, SIGKILL);              /* anything left: all but init */
    int status;
    while (sys4(NR_wait4, -1, &status, 0, 0) > 0)
        ;
    char line[96] = "fuzz: calls ";
    char *end = put_number(line + length(line), calls);
    const char *middle = " children ";
    for (u64 i = 0; middle[i]; i++)
        *end++ = middle[i];
    end = put_number(end, children);
    const char *tail = " seed ";
    for (u64 i = 0; tail[i]; i++)
        *end++ = tail[i];
    end = put_number(end, seed);
    *end++ = '\n';
    sys3(NR_write, 1, line, (u64)(end - line));
    sys1(NR_exit_group, 0);
    return 0;
}
