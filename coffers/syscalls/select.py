"""poll, ppoll, select, pselect6 (fs/select.c).

Both families check their arguments in Linux's order, then run the wait loop of
:mod:`cofferos.coffers.poll` with a ``scan`` that looks at every descriptor:

* **poll** reads an array of ``struct pollfd``; a negative descriptor is
  skipped, a closed one reports POLLNVAL, POLLERR and POLLHUP are reported
  whether asked for or not. ``nfds`` above RLIMIT_NOFILE is EINVAL. The
  ``revents`` are written back when the call returns.
* **select** reads up to three ``fd_set`` bit arrays of ``nfds`` bits; a set bit
  for a closed descriptor is EBADF before anything waits; ``nfds`` is cut down to
  the size of the descriptor table (as Linux's ``max_fds``); the sets are
  rewritten with the ready descriptors (all clear after a timeout).

ppoll, select and pselect6 write the time left back into the caller's timeout,
as ``poll_select_finish`` does (not for a zero timeout). ppoll and pselect6
install their signal mask for the wait only.
"""

from __future__ import annotations

import errno
import resource
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.ktime import (
    TIME64_MAX,
    InvalidTime,
    pack_timespec,
    pack_timeval,
    timespec_valid,
)
from cofferos.coffers.poll import (
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    POLLRDBAND,
    POLLRDNORM,
    POLLWRBAND,
    POLLWRNORM,
    do_poll,
    file_poll,
    remaining_ns,
)
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.time import NS_PER_MICROSECOND, NS_PER_SECOND, TIMEVAL
from cofferos.coffers.syscalls.uaccess import (
    U64,
    copy_from_user,
    copy_to_user,
    get_timespec64,
    signed,
)
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

POLLFD = struct.Struct("<ihh")  #: struct pollfd: fd, events, revents
SIGSET_SIZE = 8  #: sizeof(sigset_t) in the kernel
SIGSET_ARGPACK = struct.Struct("<QQ")  #: pselect6's struct sigset_argpack: ss, ss_len
BITS_PER_LONG = 64
NR_OPEN_DEFAULT = BITS_PER_LONG  #: slots of a new descriptor table
FDTABLE_STEP = 128  #: a table grows in multiples of 1024 / sizeof(struct file *)
US_PER_SECOND = NS_PER_SECOND // NS_PER_MICROSECOND
POLLIN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR
POLLOUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR
POLLEX_SET = POLLPRI
UINT_MASK = 0xFFFF_FFFF  #: nfds is an unsigned int
EVENTS_MASK = 0xFFFF  #: pollfd.events is a short


class InvalidArgument(Exception):
    """A timeout or signal mask argument the call refuses with EINVAL."""


def _timeout(seconds: int, ns: int) -> int:
    """``poll_select_set_timeout``: a timeout in nanoseconds; EINVAL unless valid.
    (Not saturated: :func:`~cofferos.coffers.poll.do_poll` saturates the end time.)"""
    if not timespec_valid(seconds, ns):
        raise InvalidArgument
    return seconds * NS_PER_SECOND + ns


def get_timeout(task: Task, address: int) -> int | None:
    """A ``struct timespec`` timeout in nanoseconds; None for a NULL pointer (no limit)."""
    if not address:
        return None
    try:
        return _timeout(*get_timespec64(task, address))
    except InvalidTime:
        raise InvalidArgument from None


def get_sigmask(task: Task, address: int, size: int) -> int | None:
    """``set_user_sigmask``'s argument checks: None when no mask is given."""
    if not address:
        return None
    if size != SIGSET_SIZE:
        raise InvalidArgument
    (mask,) = U64.unpack(copy_from_user(task, address, SIGSET_SIZE))
    return int(mask)


def _finish(task: Task, address: int, timeout_ns: int | None, result: int,
            timeval: bool = False) -> int:
    """``poll_select_finish``: write the time left back; a failed write is ignored.
    (Linux also writes it after an error; then it depends on timing, so it is skipped.)"""
    if address and timeout_ns and result >= 0:
        left = remaining_ns(task)
        raw = pack_timeval(left) if timeval else pack_timespec(left)
        try:
            copy_to_user(task, address, raw)
        except MemoryFault:
            pass
    return result


# -- poll ----------------------------------------------------------------------------------
def _do_sys_poll(task: Task, ufds: int, nfds: int, timeout_ns: int | None,
                 sigmask: int | None) -> int:
    nfds &= UINT_MASK
    soft_limit, _ = task.rlimits[resource.RLIMIT_NOFILE]
    if nfds > soft_limit:
        return -errno.EINVAL
    raw = copy_from_user(task, ufds, POLLFD.size * nfds) if nfds else b""
    pollfds = [POLLFD.unpack_from(raw, i * POLLFD.size) for i in range(nfds)]
    revents = [0] * nfds

    def scan() -> tuple[int, list[OpenFile]]:
        files: list[OpenFile] = []
        for i, (fd, events, _) in enumerate(pollfds):
            if fd < 0:
                revents[i] = 0
                continue
            try:
                file = fdget(task, fd)
            except FsError:
                revents[i] = POLLNVAL
                continue
            files.append(file)
            revents[i] = file_poll(file) & ((events & EVENTS_MASK) | POLLERR | POLLHUP)
        return sum(1 for mask in revents if mask), files

    result = do_poll(task, timeout_ns, scan, sigmask)
    if result >= 0 and nfds:
        out = b"".join(POLLFD.pack(fd, events, signed(mask, 16))
                       for (fd, events, _), mask in zip(pollfds, revents, strict=True))
        copy_to_user(task, ufds, out)
    return result


def sys_poll(task: Task, ufds: int, nfds: int, timeout_msecs: int) -> int:
    timeout = signed(timeout_msecs, 32)
    timeout_ns = timeout * 1_000_000 if timeout >= 0 else None
    return _do_sys_poll(task, ufds, nfds, timeout_ns, None)


def sys_ppoll(task: Task, ufds: int, nfds: int, tsp: int, sigmask: int, sigsetsize: int) -> int:
    try:
        timeout_ns = get_timeout(task, tsp)
        mask = get_sigmask(task, sigmask, sigsetsize)
    except InvalidArgument:
        return -errno.EINVAL
    result = _do_sys_poll(task, ufds, nfds, timeout_ns, mask)
    return _finish(task, tsp, timeout_ns, result)


# -- select ----------------------------------------------------------------------------------
def _fds_bytes(n: int) -> int:
    """FDS_BYTES: a set of ``n`` bits is copied in whole longs."""
    return (n + BITS_PER_LONG - 1) // BITS_PER_LONG * (BITS_PER_LONG // 8)


def _max_fds(task: Task) -> int:
    """``fdt->max_fds``: the table's size, which grows past the highest descriptor."""
    highest = max(task.files.fds, default=0)
    if highest < NR_OPEN_DEFAULT:
        return NR_OPEN_DEFAULT
    steps = highest // FDTABLE_STEP + 1
    return FDTABLE_STEP * (1 << (steps - 1).bit_length())


def _get_fd_set(task: Task, address: int, n: int) -> int:
    if not address:
        return 0
    return int.from_bytes(copy_from_user(task, address, _fds_bytes(n)), "little")


def core_sys_select(task: Task, n: int, inp: int, outp: int, exp: int,
                    timeout_ns: int | None, sigmask: int | None) -> int:
    n = signed(n, 32)
    if n < 0:
        return -errno.EINVAL
    n = min(n, _max_fds(task))
    in_set, out_set, ex_set = (_get_fd_set(task, address, n) for address in (inp, outp, exp))
    wanted = (in_set | out_set | ex_set) & ((1 << n) - 1)
    fds = [fd for fd in range(n) if wanted >> fd & 1]
    if any(fd not in task.files.fds for fd in fds):
        return -errno.EBADF  # max_select_fd: before any waiting
    results = [0, 0, 0]

    def scan() -> tuple[int, list[OpenFile]]:
        results[:] = [0, 0, 0]
        count = 0
        files: list[OpenFile] = []
        for fd in fds:
            try:
                file = fdget(task, fd)
            except FsError:
                continue  # an O_PATH descriptor is never ready
            files.append(file)
            mask = file_poll(file)
            for i, (wanted_set, ready_bits) in enumerate(
                    ((in_set, POLLIN_SET), (out_set, POLLOUT_SET), (ex_set, POLLEX_SET))):
                if wanted_set >> fd & 1 and mask & ready_bits:
                    results[i] |= 1 << fd
                    count += 1
        return count, files

    result = do_poll(task, timeout_ns, scan, sigmask)
    if result < 0:
        return result
    size = _fds_bytes(n)
    for address, bits in zip((inp, outp, exp), results, strict=True):
        if address:
            copy_to_user(task, address, bits.to_bytes(size, "little"))
    return result


def sys_select(task: Task, n: int, inp: int, outp: int, exp: int, tvp: int) -> int:
    timeout_ns = None
    if tvp:
        seconds, micros = TIMEVAL.unpack(copy_from_user(task, tvp, TIMEVAL.size))
        carry, micros = _c_divmod(micros, US_PER_SECOND)
        if seconds + carry > TIME64_MAX:
            return -errno.EINVAL  # the sum wraps negative in C's time64_t
        try:  # kern_select folds whole seconds out of tv_usec first
            timeout_ns = _timeout(seconds + carry, micros * NS_PER_MICROSECOND)
        except InvalidArgument:
            return -errno.EINVAL
    result = core_sys_select(task, n, inp, outp, exp, timeout_ns, None)
    return _finish(task, tvp, timeout_ns, result, timeval=True)


def _c_divmod(a: int, b: int) -> tuple[int, int]:
    """C's ``/`` and ``%``: the quotient rounds toward zero, the remainder keeps a's sign."""
    quotient = abs(a) // b * (1 if a >= 0 else -1)
    return quotient, a - b * quotient


def sys_pselect6(task: Task, n: int, inp: int, outp: int, exp: int, tsp: int, sig: int) -> int:
    sigmask_ptr, sigsetsize = SIGSET_ARGPACK.unpack(
        copy_from_user(task, sig, SIGSET_ARGPACK.size)) if sig else (0, 0)
    try:
        timeout_ns = get_timeout(task, tsp)
        mask = get_sigmask(task, sigmask_ptr, sigsetsize)
    except InvalidArgument:
        return -errno.EINVAL
    result = core_sys_select(task, n, inp, outp, exp, timeout_ns, mask)
    return _finish(task, tsp, timeout_ns, result)


def register(table: SyscallTable) -> None:
    table.add("poll", sys_poll, "ptr", "uint", "int")
    table.add("ppoll", sys_ppoll, "ptr", "uint", "ptr", "ptr", "size")
    table.add("select", sys_select, "int", "ptr", "ptr", "ptr", "ptr")
    table.add("pselect6", sys_pselect6, "int", "ptr", "ptr", "ptr", "ptr", "ptr")
