/* exim_work.h: the per-message work of a real Exim that mosbench.c's loop stands in for,
 * measured, not estimated (issue #15; docs/timing.md, "MOSBENCH's Exim", says more).
 *
 * Measured on Debian 12's exim4-daemon-light 4.96-15+deb12u11 (apt-get download, dpkg -x
 * into a scratch directory, not installed) run natively as a daemon (-bdf) with a
 * configuration after MOSBENCH's exim/configure.tmpl (deliver_drop_privilege,
 * split_spool_directory, the acl_check_rcpt checks, the virtual_user accept router, the
 * local_delivery appendfile transport with use_lockfile = false and file_must_exist),
 * fed by an smtpbm-like client (127.0.0.1, 10 messages a connection, one write a line);
 * benchmarks/exim/ holds the configuration, the client and the scripts.
 *
 * User-space instructions per process and message: valgrind --tool=callgrind
 * --trace-children=yes --dump-before=fork --dump-before=_Fork (a dump before each fork,
 * so a child does not inherit its parent's count), the Ir of every dump summed by
 * process role, 60 messages (benchmarks/exim/measure.sh insns 60; 10 messages gives the
 * same per-message figures within 0.4%). The receiving process's figure is its
 * connection's total over its 10 messages (its greeting, HELO and QUIT included).
 *
 *   process              real Exim   this loop, spin 0   the spin (the difference)
 *   receiving, a message   278,765          15,176               263,589
 *   delivery               324,699          16,428               308,271
 *   transport              184,287           2,358               181,929
 *   a message, in all      787,751          33,962               753,789
 *
 * The loop's own counts were measured the same way on the static glibc build of
 * mosbench.c compiled with -DEXIM_NO_SPIN (benchmarks/exim/measure.sh loop 60), with the
 * calls below already in; with the spin, the same measurement gives 278,763, 324,698 and
 * 184,287. The spin is two instructions an iteration (dec, jnz), which the cost table
 * prices at a cycle each (isa/cost_table.py: default, branch): real Exim's mix of loads,
 * stores, calls and string work would price higher per instruction, so this is a floor. */
#ifndef EXIM_WORK_H
#define EXIM_WORK_H

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#define EXIM_PAGE 4096L

#define EXIM_RECEIVE_INSNS 278765L   /* receiving process, a message (connection total / 10) */
#define EXIM_DELIVER_INSNS 324699L   /* delivery process, its whole life */
#define EXIM_TRANSPORT_INSNS 184287L /* transport process, its whole life */

#define LOOP_RECEIVE_INSNS 15176L   /* this loop's receiving process, a message, spin 0 */
#define LOOP_DELIVER_INSNS 16428L   /* this loop's delivery process, spin 0 */
#define LOOP_TRANSPORT_INSNS 2358L /* this loop's transport process, spin 0 */

/* The calls on names the loop did not make, per message and process, from strace -f of
 * the same daemon (benchmarks/exim/measure.sh files 20: the file calls of 20 messages, by
 * the process that made them; rounded to whole calls). Their names are stand-ins under
 * the loop's ROOT, so each walk crosses directories every worker shares, as Exim's do.
 * Not reproduced: 17 fstat, 35 rt_sigaction, 14.5 alarm, 12 fcntl (the hints db's lock
 * among them) and about 20 other calls on no name a message (measure.sh calls 10: 237
 * calls a message in all). */
#define RECEIVE_LOCALTIME_STATS 5  /* glibc's localtime: stat("/etc/localtime") (5.2) */
#define RECEIVE_LOG_STATS 1        /* stat of the main log (is it still there?) (0.9) */
#define RECEIVE_STATFS 2           /* check_spool_space: statfs of spool and log (1 + 1) */
#define DELIVER_LOCALTIME_STATS 3  /* (3.0) */
#define DELIVER_LOG_STATS 2        /* (2.0) */
#define DELIVER_HINTS_OPENS 2      /* the retry hints db: open its lockfile (2.0) */
#define DELIVER_HINTS_STATS 2      /* stat the db: absent (no retry record is written) */
#define DELIVER_DB_CONFIG_OPENS 2  /* Berkeley DB's DB_CONFIG: absent */
#define DELIVER_JOURNAL_PROBES 1   /* open the journal -J before creating it: absent */
#define DELIVER_TMPDIR_STATS 2     /* Berkeley DB: stat("/var/tmp") (2.0) */
#define DELIVER_CPU_ONLINE_OPENS 2 /* open("/sys/devices/system/cpu/online") (2.0) */
#define TRANSPORT_LOCALTIME_STATS 2 /* (2.0); plus chdir("/"), a stat of each of the
                                     * mailbox's ancestors and a utime of the mailbox */

/* Stand-ins under the loop's root for the names Exim looks up (its main log is the loop's). */
#define LOCALTIME "/etc/localtime"
#define MAINLOG "/log/mainlog"
#define TMPDIR "/var/tmp"
#define HINTS_DB "/spool/db/retry"
#define HINTS_LOCK "/spool/db/retry.lockfile"
#define DB_CONFIG "/spool/db/DB_CONFIG"
#define CPU_ONLINE "/sys/devices/system/cpu/online"
#define STANDIN_DIR_MODE 0755
#define STANDIN_FILE_MODE 0600

/* Page faults per process and message: perf record -e page-faults -c 1 of the daemon and
 * every process it starts, each fault charged to its process, the roles by the fork tree
 * perf's task events give (benchmarks/exim/measure.sh faults 300; 100 messages gives the
 * same within 2 faults). The loop's own the same way on its native build, spin 0
 * (measure.sh loop-faults 100). Exim's are a dynamically linked program's: a child's first
 * use of each library page, and a copy of each page it writes that its parent had.
 *
 *   process                   real Exim   this loop, spin 0   written here (the difference)
 *   receiving, a connection      609            127                 482
 *   delivery                     151             23                 128
 *   transport                    193             14                 179
 *
 * The address space a fork copies: measure.sh shape 200 (each Exim process's /proc maps
 * and smaps_rollup, sampled while the messages run; the receiving process, which forks
 * each delivery: a median of 175 mappings and 1,218 anonymous resident pages, the daemon
 * 175 and 1,203; the delivery and transport processes live too briefly to be sampled, and
 * are taken to be the same size as the receiving process they are forked from). The
 * loop's worker, sampled the same way: 12 mappings, 19 anonymous pages. So each worker
 * maps the difference before its first fork: 162 one-page mappings (alternately
 * read-only and writable, so no two merge) and one area of 1,199 pages, each written.
 * With all of it, the native build's faults by role are real Exim's (measure.sh
 * loop-faults with the spin: 609, 151 and 193), and its worker has 175 mappings and
 * 1,218 anonymous pages. */
#define EXIM_RECEIVE_FAULTS 609L  /* receiving process, a connection */
#define EXIM_DELIVER_FAULTS 151L  /* delivery process, its whole life */
#define EXIM_TRANSPORT_FAULTS 193L /* transport process, its whole life */
#define LOOP_RECEIVE_FAULTS 127L
#define LOOP_DELIVER_FAULTS 23L
#define LOOP_TRANSPORT_FAULTS 14L
#define EXIM_MAPPINGS 175L        /* Exim's receiving process */
#define EXIM_ANON_PAGES 1218L
#define LOOP_MAPPINGS 12L         /* the loop's worker */
#define LOOP_ANON_PAGES 19L
/* The worker's extra mappings: the difference, less the one area of extra pages. */
#define EXTRA_MAPPINGS (EXIM_MAPPINGS - LOOP_MAPPINGS - 1)
#define EXTRA_ANON_PAGES (EXIM_ANON_PAGES - LOOP_ANON_PAGES)

#ifdef EXIM_NO_SPIN /* to measure the loop's own counts (exim_work.h) */
#define SPIN(exim, loop) 0L
#define EXIM_SIZED 0
#else
#define SPIN(exim, loop) ((exim) - (loop))
#define EXIM_SIZED 1
#endif

/* The worker's area of EXTRA_ANON_PAGES, which every process it forks inherits. */
static char *exim_area;

/* Give this process (a worker, before its first fork) the address space of Exim's
 * daemon: the mappings and anonymous pages above. */
static void exim_address_space(void)
{
    if (!EXIM_SIZED)
        return;
    for (long k = 0; k < EXTRA_MAPPINGS; k++) {
        int prot = k % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        if (mmap(NULL, EXIM_PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
            die("mmap", "a mapping of Exim's");
    }
    exim_area = mmap(NULL, EXTRA_ANON_PAGES * EXIM_PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (exim_area == MAP_FAILED)
        die("mmap", "Exim's anonymous pages");
    for (long k = 0; k < EXTRA_ANON_PAGES; k++)
        exim_area[k * EXIM_PAGE] = 1;
}

/* Write n pages of the inherited area from page first: a fault each (a copy of the
 * parent's page), as Exim's process takes the faults the loop does not (above). */
static void exim_touch(long first, long n)
{
    if (!EXIM_SIZED)
        return;
    for (long k = first; k < first + n; k++)
        exim_area[k * EXIM_PAGE] += 1;
}

/* Real Exim's user-space work that the loop does not do (string expansion, ACLs, header
 * building, ...): n instructions, two an iteration (dec, jnz), measured (exim_work.h). */
static void exim_user_work(long n)
{
    long left = n / 2;
    if (left > 0)
        __asm__ volatile("1:\n\tdec %0\n\tjnz 1b" : "+r"(left) : : "cc");
}

/* root/name, which must exist, stat'ed times times (a stand-in for a name Exim stats). */
static void exim_stat(const char *root, const char *name, int times)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", root, name);
    for (int k = 0; k < times; k++)
        if (stat(path, &st) != 0)
            die("stat", path);
}

/* root/name, which must not exist, looked up times times (stat: ENOENT), as Exim's
 * lookups of its hints db and DB_CONFIG, which no successful delivery creates. */
static void exim_absent(const char *root, const char *name, int times)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", root, name);
    for (int k = 0; k < times; k++)
        if (stat(path, &st) == 0 || errno != ENOENT)
            die("stat of an absent name", path);
}

/* root/name opened (with flags), read if readable, closed, times times. */
static void exim_open(const char *root, const char *name, int flags, int times)
{
    char path[PATH_MAX], buf[READ_CHUNK];
    snprintf(path, sizeof path, "%s%s", root, name);
    for (int k = 0; k < times; k++) {
        int fd = open(path, flags | O_CLOEXEC, FILE_MODE);
        if (fd < 0)
            die("open", path);
        if ((flags & O_ACCMODE) != O_WRONLY && read(fd, buf, sizeof buf) < 0)
            die("read", path);
        close(fd);
    }
}

/* A stat of each of path's ancestors (appendfile's check of the mailbox's directories). */
static void exim_stat_ancestors(char *path)
{
    struct stat st;
    for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (stat(path, &st) != 0)
            die("stat", path);
        *slash = '/';
    }
}

/* check_spool_space: statfs of the spool and the log directory. */
static void exim_check_space(const char *root)
{
    const char *const spaces[] = {"/spool", "/log"};
    for (int k = 0; k < RECEIVE_STATFS; k++) {
        char path[PATH_MAX];
        struct statfs fs;
        snprintf(path, sizeof path, "%s%s", root, spaces[k % 2]);
        if (statfs(path, &fs) != 0)
            die("statfs", path);
    }
}

/* The stand-ins' directories and (empty) files under root, shared by every worker
 * (HINTS_DB and DB_CONFIG stay absent). */
static void exim_standins(const char *root)
{
    char path[PATH_MAX];
    const char *const dirs[] = {"/etc", "/var", TMPDIR, "/spool/db", "/sys", "/sys/devices",
                                "/sys/devices/system", "/sys/devices/system/cpu"};
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        snprintf(path, sizeof path, "%s%s", root, dirs[k]);
        if (mkdir(path, STANDIN_DIR_MODE) != 0 && errno != EEXIST)
            die("mkdir", path);
    }
    const char *const files[] = {LOCALTIME, MAINLOG, HINTS_LOCK, CPU_ONLINE};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        snprintf(path, sizeof path, "%s%s", root, files[k]);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, STANDIN_FILE_MODE);
        if (fd < 0)
            die("open", path);
        close(fd);
    }
}

#endif
