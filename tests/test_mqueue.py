"""POSIX message queues (:mod:`cofferos.coffers.mqueue`), against the same guests run natively.

``tests/procsys/mqueue.c`` unshares CLONE_NEWIPC (natively that needs root, so the
host's queues are untouched) and walks mq_open's checks and limits, priority order,
blocking senders and receivers, timeouts, EINTR and SA_RESTART, mq_notify,
mq_getsetattr, poll/select/epoll, read(2)'s QSIZE line and, as nobody, msg_max,
msgsize_max, permissions and RLIMIT_MSGQUEUE. ``tests/procsys/mqueue_fs.c`` reads and
writes /proc/sys/fs/mqueue and mounts the queue filesystem; ``mqueue_thread.c`` has
the C library run a function on a thread for mq_notify's SIGEV_THREAD;
``mqueue_userns.c`` sets the sysctls as root of its own user namespace. Each is built against
glibc and against musl; both drop CAP_SYS_RESOURCE first (this machine's root lacks
it). The unit tests below pin the model's accounting, which a guest sees only as errnos.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.fs import FsError
from cofferos.coffers.ipc_shm import ShmIds
from cofferos.coffers.mm import MemoryAccount
from cofferos.coffers.mqueue import FILENT_SIZE, QUEUE_HOST_BYTES, MqNamespace, queue_bytes
from tests.support import (
    GUEST_CWD,
    GUEST_INCLUDE,
    compile_guest,
    needs_gcc,
    run_guest,
    run_guest_natively,
)

GUESTS = Path(__file__).parent / "procsys"
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the guest unshares CLONE_NEWIPC natively")


LIBCS = ("glibc", "musl")
MIB = 1 << 20


def build(source: str, tmp_path: Path, libc: str) -> Path:
    """The guest, built by gcc (glibc) or musl-gcc, static."""
    if libc == "glibc":
        return compile_guest(GUESTS / source, tmp_path)
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc not installed (apt-get install musl-tools)")
    binary = tmp_path / f"{Path(source).stem}-musl"
    subprocess.run(["musl-gcc", "-static", "-O1", "-Wall", "-I", str(GUEST_INCLUDE), "-o",
                    str(binary), str(GUESTS / source)], check=True, capture_output=True)
    return binary


def run_both(source: str, tmp_path: Path, libc: str) -> tuple[str, str, int, int]:
    binary = build(source, tmp_path, libc)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native_status, native = run_guest_natively(binary, workdir)
    status, out, _ = run_guest(binary)
    return out.decode(), native.decode(), status, native_status


@needs_gcc
@needs_root
@pytest.mark.parametrize("libc", LIBCS)
def test_message_queues_behave_as_natively(tmp_path: Path, libc: str) -> None:
    out, native, status, native_status = run_both("mqueue.c", tmp_path, libc)
    for line in ("received 2 'b5' prio 5\nreceived 3 'd33' prio 3\nreceived 2 'a1' prio 1",
                 "mq_send(q, \"e\", 1, 0) = -1 EAGAIN",
                 "mq_timedreceive(q, buf, sizeof buf, NULL, &soon) = -1 ETIMEDOUT",
                 "link /q\nfstatfs(q, &sfs) = 0\nf_type 0x19800202\n",
                 "= -1 EMFILE\nsetrlimit(RLIMIT_NOFILE, &files) = 0\n"
                 "mq_unlink(\"/nofd\") = -1 ENOENT",
                 "blocking receive 4 'late' prio 7",
                 "restarted receive 5 'again' alarms 2",
                 "mq_timedsend(q, \"room\", 4, 9, &later) = 0",
                 "mq_receive(q, buf, sizeof buf, NULL) = -1 EINTR",
                 "notified code -3 (SI_MESGQ -3) value 42 self 1",
                 "child's poll revents 0x1\nnotified code -3 with a poller",
                 "mq_notify(q, &ev) = -1 EBUSY",
                 "read 60: QSIZE:9          NOTIFY:0     SIGNO:0     NOTIFY_PID:0",
                 "mq_open(\"/big\", O_CREAT | O_RDWR, 0600, &big) = -1 EINVAL",
                 "mq_open(\"/over\", O_CREAT | O_EXCL | O_RDWR, 0600, &over) = -1 EMFILE"):
        assert line in native, line  # the promise holds natively, so the comparison tests it
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
@pytest.mark.parametrize("libc", LIBCS)
def test_the_mqueue_filesystem_and_its_sysctls_behave_as_natively(tmp_path: Path,
                                                                  libc: str) -> None:
    out, native, status, native_status = run_both("mqueue_fs.c", tmp_path, libc)
    for line in ("attr maxmsg 5 msgsize 200", "set_sysctl(\"msg_max\", \"0\") = -1 EINVAL",
                 "mq_open(\"/two\", O_CREAT | O_RDWR, 0600, NULL) = -1 ENOSPC",
                 "mountinfo rw,relatime - mqueue none rw\n",
                 "root mode 41777\nentry one\n", "one mode 100640 size 80 nlink 1",
                 "QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0",
                 "set_sysctl(\"queues_max\", \"5\") = -1 EACCES\n"
                 "unlink(\"m/one\") = -1 EPERM\nmq_unlink(\"/one\") = -1 EACCES",
                 "unshare(CLONE_NEWIPC) = 0\nmsg_default = 10\nmsg_max = 10\n",
                 "umount(\"m\") = 0"):
        assert line in native, line
    assert out == native
    assert status == native_status == 0
    assert list((tmp_path / "cwd").iterdir()) == []


@needs_gcc
@needs_root
@pytest.mark.parametrize("libc", LIBCS)
def test_sigev_thread_notification_runs_the_function_as_natively(tmp_path: Path,
                                                                 libc: str) -> None:
    out, native, status, native_status = run_both("mqueue_thread.c", tmp_path, libc)
    for line in ("NOTIFY:2     SIGNO:0     NOTIFY_PID:self", "calls 1 value 7\n",
                 "wait_call(50) = -1 ETIMEDOUT\ncalls 1 value 7",
                 "syscall(SYS_mq_notify, q, &raw) = -1 ENOTSOCK"):
        assert line in native, line
    assert out == native
    assert status == native_status == 0


@needs_gcc
@needs_root
@pytest.mark.parametrize("libc", LIBCS)
def test_a_user_namespaces_root_owns_its_ipc_namespaces_sysctls_as_natively(
        tmp_path: Path, libc: str) -> None:
    out, native, status, native_status = run_both("mqueue_userns.c", tmp_path, libc)
    for line in ("put(\"/proc/sys/fs/mqueue/msg_max\", \"7\") = -1 EACCES",
                 "owner 0 0 mode 100644\nput(\"/proc/sys/fs/mqueue/msg_max\", \"7\") = 1",
                 "maxmsg 7 msgsize 8192", "/proc/sys/fs/mqueue/msg_max = 10\n"):
        assert line in native, line
    assert out == native
    assert status == native_status == 0


@needs_gcc
def test_queues_stop_at_the_coffers_memory_limit(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "mqueue_memory.c", tmp_path)
    limit = 64 * MIB
    status, out, coffer = run_guest(binary, CofferConfig(cwd=GUEST_CWD, memory_limit=limit))
    text = out.decode()
    tiny = int(text.split("made ")[1].split()[0])
    assert f"tiny queue {tiny}: ENOMEM" in text
    assert 0 < tiny <= limit // (queue_bytes(1, 1) + QUEUE_HOST_BYTES)
    per_queue = queue_bytes(64, 65536)
    made = int(text.split("made ")[2].split()[0])
    assert "ENOMEM" in out.decode() and status == 0
    assert 0 < made <= limit // (per_queue + QUEUE_HOST_BYTES)
    assert coffer.memory.used_bytes <= limit
    assert sum(coffer.mq_user_bytes.values()) == made * per_queue


def make_ns() -> tuple[MqNamespace, dict]:
    return MqNamespace(now_ns=lambda: 0), {}


def test_a_queue_is_charged_until_unlinked_and_closed() -> None:
    ns, users = make_ns()
    account = MemoryAccount(limit_bytes=1 << 20)
    queue = ns.create("q", 0o600, 0, 0, 4, 100, account, users, "me", 10_000)
    charged = queue_bytes(4, 100)
    assert charged == 4 * 100 + 4 * 48 + 4 * 48
    assert users["me"] == charged and account.used_bytes == charged + QUEUE_HOST_BYTES
    assert ns.count == 1
    queue.opened()
    ns.unlink("q")
    assert users["me"] == charged and ns.count == 1  # open: still there
    queue.closed()
    assert users["me"] == account.used_bytes == 0 and ns.count == 0
    assert queue.stat().st_size == FILENT_SIZE


def test_queues_past_the_rlimit_or_the_memory_limit_are_refused() -> None:
    ns, users = make_ns()
    with pytest.raises(FsError) as rlimit:
        ns.create("q", 0o600, 0, 0, 10, 100, None, users, "me", queue_bytes(10, 100) - 1)
    assert rlimit.value.errno == errno.EMFILE
    small = MemoryAccount(limit_bytes=1000)
    with pytest.raises(FsError) as memory:
        ns.create("q", 0o600, 0, 0, 10, 100, small, users, "me", 1 << 40)
    assert memory.value.errno == errno.ENOMEM
    assert users.get("me", 0) == small.used_bytes == 0 and not ns.queues


def test_a_namespace_that_goes_gives_back_its_queues_charges() -> None:
    ids = ShmIds()
    ids.mq, users = make_ns()
    kept = ids.mq.create("kept", 0o600, 0, 0, 1, 10, None, users, "me", 1 << 20)
    ids.mq.create("idle", 0o600, 0, 0, 1, 10, None, users, "me", 1 << 20)
    kept.opened()
    fresh = ids.renew([], None)
    assert fresh.mq is None and not ids.mq.queues
    assert users["me"] == queue_bytes(1, 10) and ids.mq.count == 1  # the open one stays
    kept.closed()
    assert users["me"] == 0 and ids.mq.count == 0


def test_messages_leave_by_priority_then_in_order() -> None:
    ns, users = make_ns()
    queue = ns.create("q", 0o600, 0, 0, 8, 16, None, users, "me", 1 << 40)
    for message, priority in ((b"a", 1), (b"b", 5), (b"c", 1), (b"d", 3)):
        queue.insert(message, priority)
    assert queue.qsize == 4
    assert [queue.take() for _ in range(4)] == [(b"b", 5), (b"d", 3), (b"a", 1), (b"c", 1)]
    assert queue.qsize == queue.curmsgs == 0
