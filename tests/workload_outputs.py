"""What each built-in workload prints and how it exits, run natively with no arguments.

The reference :mod:`tests.test_workloads` holds every build to (each binary run on
this host, outside the simulator), kept apart from the tests as a table: a workload
added to the catalog needs its lines here (``test_catalog_is_consistent`` says so).
"""

from __future__ import annotations

import signal

#: Lines each workload prints when run with no arguments (its defaults).
EXPECTED_STDOUT: dict[str, list[str]] = {
    "fxmark": [],
    "wis": [],
    "mosbench": [],
    "secret": ["secret quiet"],
    "storm": ["storm create: 1000 iterations, 0 failed"],
    "hog": [],
    "fuzz": ["usage: fuzz CALLS SEED [BATCH]   (inside a coffer only)"],
    "bystander": ["bystander: 5 rounds, fork files memory disk all granted"],
    "hello": ["hello from a coffer", "argc=1"],
    "compute": ["compute: 5000000 iterations, checksum 8368120ecceb3a60"],
    "nullsys": ["nullsys: 100000 getppid calls"],
    "fileio": [
        "fileio: wrote 262144 bytes in 64 chunks of 4096",
        "fileio: read 262144 bytes, checksum 8f441dc5 (written 8f441dc5)",
        "fileio: fstat size 262144, stat size 262144, lseek end 262144",
        "fileio: pread ok",
        "fileio: entries note.txt renamed.bin",
        "fileio: cleanup ok",
    ],
    "metadata": [
        "metadata: 2000 iterations of create/write/open/read/stat/unlink, "
        "128000 bytes read back intact",
    ],
    "memtouch": [
        "memtouch: 8 MiB malloc + 8 MiB mmap, 4096 pages touched, 8192 small blocks",
        "memtouch: fresh mmap pages not zero: 0",
        "memtouch: checksum 390bc32429924000",
    ],
    "exitcode": ["exitcode: exiting with 3"],
    "segv": ["segv: writing through NULL"],
    "asmloop": [],
    "threads": [
        "threads: join values 1 2 5 10 (sum 18)",
        "threads: 4 workers x 10000 increments, counter 40000",
        "threads: tls ok in 4 of 4 workers",
        "threads: queue of 8 slots passed 1000 of 1000 items, sum 500500, in order yes",
        "threads: consumer returned its result yes",
        "threads: main tls 7, increments 0",
    ],
    "forkexec": [
        "forkexec: pipe from exec'ed child (68 bytes):",
        "line one from the exec'ed child",
        "line two, getppid is the parent yes",
        "forkexec: waitpid same pid yes, exited yes, status 7",
        "forkexec: child signaled yes, signal SIGTERM",
        "forkexec: after kill(self, SIGUSR1) handler ran 1 time(s)",
        "forkexec: after raise(SIGUSR1) handler ran 2 time(s)",
        "forkexec: blocked SIGUSR1: pending yes, handled while blocked 0, after unblock 1",
        "forkexec: read across a SA_RESTART handler returned 4 'late', handler ran 1",
        "forkexec: write to a pipe without reader, SIGPIPE ignored: -1 EPIPE",
        "forkexec: same with SIGPIPE default: child SIGPIPE",
        "forkexec: pause returned -1 EINTR after SIGALRM, handler ran 1",
        "forkexec: SIGCHLD handled 4 time(s) for 4 children",
        "forkexec: all steps passed",
    ],
    "sqlite": [
        "sqlite: inserted 2000 rows in one transaction",
        "sqlite: sum of scores 999000",
        "sqlite: scores 100..199: 200 rows, index used yes",
        "sqlite: group 0: 400 rows, score sum 199000, names item-000005..item-002000",
        "sqlite: group 1: 400 rows, score sum 200600, names item-000001..item-001996",
        "sqlite: group 2: 400 rows, score sum 200200, names item-000002..item-001997",
        "sqlite: group 3: 400 rows, score sum 199800, names item-000003..item-001998",
        "sqlite: group 4: 400 rows, score sum 199400, names item-000004..item-001999",
        "sqlite: after deleting even ids 1000 rows remain, sum of ids 1000000",
        "sqlite: VACUUM shrank the file: yes",
        "sqlite: integrity ok",
        "sqlite: done",
    ],
    "agent": [],  # no server given: usage on stderr
    "modelserver": [],  # no trace given: usage on stderr
    "webserver": [],  # no port given: usage on stderr (tests/test_agents.py runs it)
    "sqlquery": [],  # no database given: usage on stderr
    "tcpserver": [
        "tcpserver: accepted a connection from an IPv4 peer",
        "tcpserver: served 100 lines, 2992 bytes, 0 left unterminated",
    ],
    "tcpclient": [
        "tcpclient: connected",
        "tcpclient: sent 100 lines (2992 bytes), 100 replies upper-cased correctly",
    ],
    "unixsock": [
        "unixsock: socketpair: 5 pings, 5 pongs, child status 0",
        "unixsock: path socket: is a socket yes, 5 lines (35 bytes) echoed reversed, "
        "child status 0, unlinked yes",
        "unixsock: abstract datagrams: 5 received (155 bytes), 5 from the client's name, "
        "child status 0",
    ],
    "pipeline": [
        "pipeline: poll of an empty pipe: 0 ready; after a write: 1 ready, POLLIN yes",
        "pipeline: pipe a: 5 lines [a0 a1 a2 a3 a4], hang-up seen yes",
        "pipeline: pipe b: 5 lines [b0 b1 b2 b3 b4], hang-up seen yes",
        "pipeline: writers exited with 0 and 0",
        "pipeline: eventfd 3 + 4 read as 7; semaphore gave 1 then 1, then EAGAIN",
        "pipeline: timerfd: 2 of 2 reads saw an expiration, at least 2 in all yes, "
        "elapsed >= 20 ms yes, disarmed yes",
        "pipeline: epoll: idle 0 (none), after a pipe write 1 (pipe), after an eventfd write 2 "
        "(pipe eventfd)",
        "pipeline: epoll: blocking wait woken by a child's write: 1 (pipe), read 'y', "
        "child status 0",
        "pipeline: all steps passed",
    ],
}

#: Workloads whose output is a timing or the host's state (lmbench: checked by
#: tests/test_calibration_workload.py; observer: by tests/test_isolation_infoflow.py).
TIMED = ("lmbench", "observer")

#: Workloads that need a peer: run as a pair over loopback on a free port, never alone
#: (tcpserver would wait for a connection forever, on a port that may be taken).
TCP_PAIR = ("tcpserver", "tcpclient")

#: Exit status of a run with no arguments, as subprocess reports it (-N: killed by signal N).
EXPECTED_STATUS: dict[str, int] = {name: 0 for name in EXPECTED_STDOUT} | {
    "exitcode": 3,
    "segv": -signal.SIGSEGV,
    "agent": 2,  # no server: usage (tests/test_agents.py runs the pair natively)
    "modelserver": 2,  # no trace: usage
    "webserver": 2,  # no port: usage (it would serve until its clients quit)
    "sqlquery": 2,  # no database: usage
    "hog": 2,  # no arguments: usage, so that a native run never starts an attack
    "fxmark": 2,  # no benchmark named: usage
    "wis": 2,  # no test named: usage
    "mosbench": 2,  # no test named: usage
    "fuzz": 2,  # the same; and with arguments it refuses to run outside a coffer
}
