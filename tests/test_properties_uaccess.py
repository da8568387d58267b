"""The uaccess helpers, time packing and iovec packing, as properties (hypothesis).

Guest memory is a real :class:`~cofferos.isa.cpu.Cpu` with a window of mapped pages
between unmapped ones, so every helper meets the engine's own faults:

* copies round-trip inside the window and raise MemoryFault (the dispatcher's
  EFAULT) for any range that leaves it, never another exception;
* a C string is read up to its NUL, also when the NUL is the last byte of the
  mapping; without one it is MemoryFault at the end of the mapping or ENAMETOOLONG
  past the limit, whichever comes first, as strncpy_from_user answers;
* iovec arrays and timespecs round-trip; lengths past SSIZE_MAX are EINVAL;
* a sleep request saturates at KTIME_MAX, as timespec64_to_ktime does.
"""

from __future__ import annotations

import errno
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cofferos.coffers.fs import FsError
from cofferos.coffers.ktime import InvalidTime
from cofferos.coffers.syscalls import time as sys_time
from cofferos.coffers.syscalls.read_write import SSIZE_MAX, _iov_total
from cofferos.coffers.syscalls.uaccess import (
    IOV_MAX,
    IOVEC,
    TIMESPEC,
    copy_from_user,
    copy_to_user,
    get_iovecs,
    get_timespec,
    strncpy_from_user,
)
from cofferos.isa.costs import DEFAULT_COSTS, shared_coster
from cofferos.isa.cpu import Cpu
from cofferos.isa.faults import MemoryFault
from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS

PAGE = 4096
WINDOW = 0x10000000  #: the mapped window: PAGES pages, nothing mapped around it
PAGES = 4
END = WINDOW + PAGES * PAGE
PROT_RW = 3
NS_PER_SECOND = 1_000_000_000
KTIME_MAX = (1 << 63) - 1  #: include/linux/ktime.h
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

ADDRESSES = st.one_of(
    st.integers(WINDOW - 64, END + 64),                       # near and across the edges
    st.sampled_from([0, 1, PAGE, (1 << 47) - 1, 1 << 47, 0xFFFF888000000000, (1 << 64) - 1]),
    st.integers(0, (1 << 64) - 1))
SIZES = st.one_of(st.integers(0, 2 * PAGE), st.integers(0, PAGES * PAGE + PAGE))


@pytest.fixture(scope="module")
def task() -> SimpleNamespace:
    """Just what the helpers use of a task: its CPU, charge() and the copy cost."""
    cpu = Cpu(shared_coster(DEFAULT_COSTS), on_syscall=lambda _cpu: None, counting=False)
    cpu.map(WINDOW, PAGES * PAGE, PROT_RW)
    coffer = SimpleNamespace(dispatcher=SimpleNamespace(costs=DEFAULT_KERNEL_COSTS))
    return SimpleNamespace(cpu=cpu, coffer=coffer, charge=lambda cycles: None)


def _inside(address: int, size: int) -> bool:
    return WINDOW <= address and address + size <= END


@SETTINGS
@given(address=ADDRESSES, data=st.binary(max_size=2 * PAGE))
def test_copies_round_trip_inside_the_mapping_and_fault_outside(
        task: SimpleNamespace, address: int, data: bytes) -> None:
    if _inside(address, len(data)):
        copy_to_user(task, address, data)
        assert copy_from_user(task, address, len(data)) == data
    elif data:
        with pytest.raises(MemoryFault):
            copy_to_user(task, address, data)
        with pytest.raises(MemoryFault):
            copy_from_user(task, address, len(data))


@SETTINGS
@given(address=ADDRESSES, size=SIZES)
def test_a_read_is_exactly_its_size_or_a_fault(task: SimpleNamespace, address: int,
                                                size: int) -> None:
    try:
        data = copy_from_user(task, address, size)
    except MemoryFault:
        assert size > 0 and not _inside(address, size)
    else:
        assert len(data) == size and (size == 0 or _inside(address, size))


@SETTINGS
@given(text=st.binary(max_size=300).map(lambda b: b.replace(b"\0", b"x")),
       gap=st.integers(0, 3 * PAGE), terminated=st.booleans(), limit=st.integers(1, 600))
def test_a_string_ends_at_its_nul_or_faults_at_the_mapping_end(
        task: SimpleNamespace, text: bytes, gap: int, terminated: bool, limit: int) -> None:
    raw = text + (b"\0" if terminated else b"")
    address = END - len(raw) - min(gap, PAGES * PAGE - len(raw))
    task.cpu.write(address, raw + bytes(END - address - len(raw)))
    if not terminated:  # make the string run into the unmapped page after the window
        task.cpu.write(address, raw + b"y" * (END - address - len(raw)))
    room = END - address
    try:
        got = strncpy_from_user(task, address, limit)
    except FsError as err:
        assert err.errno == errno.ENAMETOOLONG
        assert limit <= (len(text) if terminated else room)
    except MemoryFault:
        assert not terminated and limit > room
    else:
        assert terminated and got == text and len(text) < limit


@SETTINGS
@given(vectors=st.lists(st.tuples(st.integers(0, (1 << 64) - 1),
                                  st.integers(0, (1 << 64) - 1)), max_size=PAGE // IOVEC.size))
def test_iovecs_round_trip(task: SimpleNamespace, vectors: list[tuple[int, int]]) -> None:
    raw = b"".join(IOVEC.pack(base, length) for base, length in vectors)
    task.cpu.write(WINDOW, raw)
    assert get_iovecs(task, WINDOW, len(vectors)) == vectors


@SETTINGS
@given(count=st.one_of(st.integers(IOV_MAX + 1, 1 << 40), st.integers(-(1 << 31), -1)))
def test_more_iovecs_than_iov_max_is_einval(task: SimpleNamespace, count: int) -> None:
    with pytest.raises(FsError) as caught:
        get_iovecs(task, WINDOW, count)
    assert caught.value.errno == errno.EINVAL


@given(lengths=st.lists(st.integers(0, (1 << 64) - 1), max_size=IOV_MAX))
def test_an_iovec_total_is_exact_or_einval_past_ssize_max(lengths: list[int]) -> None:
    vectors = [(0, length) for length in lengths]
    if any(length > SSIZE_MAX for length in lengths):
        with pytest.raises(FsError):
            _iov_total(vectors)
    else:
        assert _iov_total(vectors) == sum(lengths)  # no wrap-around at 2**64


@given(ns=st.integers(0, KTIME_MAX))
def test_a_timespec_round_trips(ns: int) -> None:
    seconds, nanoseconds = TIMESPEC.unpack(sys_time._timespec(ns))
    assert 0 <= nanoseconds < NS_PER_SECOND
    assert seconds * NS_PER_SECOND + nanoseconds == ns


def _request(task: SimpleNamespace, seconds: int, nanoseconds: int) -> int | None:
    """A timed call's timespec as the kernel reads it (uaccess.get_timespec); None: EINVAL."""
    task.cpu.write(WINDOW, TIMESPEC.pack(seconds, nanoseconds))
    try:
        return get_timespec(task, WINDOW)
    except InvalidTime:
        return None


@SETTINGS
@given(seconds=INT64, nanoseconds=INT64)
def test_a_sleep_request_is_valid_exactly_when_linux_says(
        task: SimpleNamespace, seconds: int, nanoseconds: int) -> None:
    valid = seconds >= 0 and 0 <= nanoseconds < NS_PER_SECOND
    got = _request(task, seconds, nanoseconds)
    assert (got is not None) == valid
    if valid and seconds < KTIME_MAX // NS_PER_SECOND:
        assert got == seconds * NS_PER_SECOND + nanoseconds


@SETTINGS
@given(seconds=st.integers(KTIME_MAX // NS_PER_SECOND, (1 << 63) - 1),
       nanoseconds=st.integers(0, NS_PER_SECOND - 1))
def test_a_sleep_request_saturates_at_ktime_max(task: SimpleNamespace, seconds: int,
                                                nanoseconds: int) -> None:
    assume(seconds * NS_PER_SECOND + nanoseconds > KTIME_MAX)
    assert _request(task, seconds, nanoseconds) == KTIME_MAX
