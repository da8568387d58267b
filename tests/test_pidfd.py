"""pidfd_send_signal to an open /proc/PID directory, compared with a native run.

CPython's ``signal.pidfd_send_signal`` test (test_signal's PidfdSignalTest) sends
SIGINT to its own process through ``open("/proc/PID", O_DIRECTORY)``; Linux takes
that descriptor as a pidfd. The snippet checks what else is EBADF, the signal
checks, a signal to a forked child, and ESRCH once the child is reaped. (``flags``
is left out: Linux 6.9 added flags, and the host's kernel may be newer than the
release a coffer models.)
"""

from __future__ import annotations

from pathlib import Path

from tests.test_dynamic_programs import check_same

SNIPPET = '''
import errno, os, signal
def attempt(*args):
    try:
        signal.pidfd_send_signal(*args)
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append("usr1"))
me = os.open(f"/proc/{os.getpid()}", os.O_DIRECTORY)
print("stdin", attempt(0, signal.SIGINT))
print("proc", attempt(os.open("/proc", os.O_DIRECTORY), signal.SIGUSR1))
print("bad sig", attempt(me, 1000))
print("sig0", attempt(me, 0))
print("self", attempt(me, signal.SIGUSR1), got)
pid = os.fork()
if pid == 0:
    signal.pause()
    os._exit(3)
child = os.open(f"/proc/{pid}", os.O_DIRECTORY)
print("child", attempt(child, signal.SIGTERM), os.waitpid(pid, 0)[1])
print("reaped", attempt(child, signal.SIGTERM))
try:
    signal.pidfd_send_signal(me, signal.SIGINT)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
'''


def test_pidfd_send_signal_through_a_proc_pid_directory_as_natively(tmp_path: Path) -> None:
    outcome = check_same(["python3", "-c", SNIPPET], cwd=tmp_path)
    assert b"KeyboardInterrupt" in outcome.stdout and outcome.status == 0
