"""``--trace=verbose``: decoded buffers and structures, user time between calls, and
what each personality did with a call; and the "(unimplemented)" fix.

Real guests (@hello with glibc and musl, ``tests/debugger/twowrites.c``) give the
lines of the common calls; the decoders of structures a small guest does not pass
(sockaddr, sigaction, clone flags, fcntl and ioctl commands) are checked on a fake
task whose memory is a dict.
"""

from __future__ import annotations

import io
import re
import socket
import struct
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.syscalls.decode import call_arguments, call_details
from cofferos.coffers.syscalls.signal import KSIGACTION
from cofferos.coffers.syscalls.table import default_table
from cofferos.coffers.syscalls.trace import Tracer
from cofferos.isa.faults import MemoryFault
from cofferos.personalities.base import NOT_HANDLED, Personality, SyscallContext
from tests.support import compile_guest, needs_gcc, needs_musl

GUESTS = Path(__file__).parent / "debugger"
TABLE = default_table()


def _entry(name: str):  # noqa: ANN202 - a SyscallEntry
    return next(e for e in TABLE.entries if e is not None and e.name == name)


def test_verbose_lines_of_hello(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--trace=verbose", "--", "@hello"]) == 0
    out, err = capfd.readouterr()
    assert out == "hello from a coffer\nargc=1\n"
    assert re.search(r"^\[1\] arch_prctl\(ARCH_SET_FS, 0x[0-9a-f]+\) = 0 <\d+ cycles> "
                     r"\+\d+ insns \+\d+ user cycles$", err, re.M), err
    assert re.search(r"^\[1\] prlimit64\(0, RLIMIT_STACK, NULL, 0x[0-9a-f]+\) = 0 .* "
                     r"old=\{rlim_cur=\d+, rlim_max=\S+\}", err, re.M)
    assert re.search(r"^\[1\] newfstatat\(1, \"\", 0x[0-9a-f]+, 0x1000\) = 0 .* stat=\{st_dev="
                     r"\d+, st_ino=\d+, st_mode=S_IF\w+\|0\d+, ", err, re.M)
    assert re.search(r'^\[1\] write\(1, 0x[0-9a-f]+, 20\) = 20 <\d+ cycles> '
                     r'data="hello from a coffer\\n"; \+\d+ insns', err, re.M)
    assert re.search(r'^\[1\] write\(1, 0x[0-9a-f]+, 7\) = 7 <\d+ cycles> '
                     r'data="argc=1\\n"; \+\d+ insns', err, re.M)
    first = re.search(r"^\[1\] brk\(0x0\) = \d+ <\d+ cycles> \+(\d+) insns", err, re.M)
    assert first is not None and int(first[1]) > 0  # the loader's code before the first call


@needs_musl
def test_verbose_iovecs_of_musl_hello(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--trace=verbose", "--", "@hello:musl"]) == 0
    err = capfd.readouterr().err
    assert re.search(r'writev\(1, 0x[0-9a-f]+, 2\) = 20 .* iov=\[\{iov_base="hello from a '
                     r'coffer", iov_len=19\}, \{iov_base="\\n", iov_len=1\}\]', err), err


@needs_musl
def test_ioctl_requests_are_decoded_by_name(capfd: pytest.CaptureFixture[str]) -> None:
    """musl asks whether a fully buffered stdout is a terminal (@hello sets line buffering)."""
    assert main(["run", "--trace=verbose", "--", "@exitcode:musl"]) == 3  # its default status
    assert "ioctl(1, TIOCGWINSZ, 0x" in capfd.readouterr().err


def test_brief_trace_is_unchanged_by_verbose_decoding(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--trace", "--", "@hello"]) == 0
    err = capfd.readouterr().err
    assert re.search(r"^\[1\] write\(1, 0x[0-9a-f]+, 20\) = 20 <\d+ cycles>$", err, re.M)
    assert "insns" not in err and "data=" not in err
    assert "] arch_prctl(ARCH_SET_FS, 0x" in err  # flags by call, as verbose names them


class Watched(Personality):
    """Every kind of decision, on uselib (which the kernel does not implement)."""

    name = "watched"

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if ctx.name == "uselib":
            ctx.args[0] = 5
        return None

    def handle(self, ctx: SyscallContext) -> object:
        return 7 if ctx.name == "uselib" else NOT_HANDLED

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        return result + 1 if ctx.name == "uselib" else result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        return cycles + 100 if ctx.name == "uselib" else cycles


@pytest.fixture(scope="module")
def twowrites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(GUESTS / "twowrites.c", tmp_path_factory.mktemp("guests"))


def _traced(binary: Path, verbose: bool, personalities: list[Personality]) -> str:
    lines = io.StringIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO(),
                    tracer=Tracer(lines, verbose=True) if verbose else Tracer(lines))
    if personalities:
        coffer.dispatcher.change_personalities(personalities)
    coffer.spawn(str(binary), [binary.name], [])
    assert coffer.run().exit_code == 0
    return lines.getvalue()


@needs_gcc
def test_unimplemented_only_when_no_personality_served_the_call(twowrites: Path) -> None:
    alone = _traced(twowrites, verbose=False, personalities=[])
    assert re.search(r"^\[1\] uselib\(.*\) \(unimplemented\) = -1 ENOSYS .* <\d+ cycles>$",
                     alone, re.M), alone
    served = _traced(twowrites, verbose=False, personalities=[Watched()])
    line = next(x for x in served.splitlines() if "uselib" in x)
    assert " = 8 " in line and "unimplemented" not in line  # served (7), exit rewrote to 8


@needs_gcc
def test_verbose_names_what_each_personality_did_and_charged(twowrites: Path) -> None:
    lines = _traced(twowrites, verbose=True, personalities=[Watched()])
    line = next(x for x in lines.splitlines() if "uselib" in x)
    assert ("watched rewrote arg0=0x5; watched served (7); watched rewrote the result "
            "7 -> 8; watched charged +100 cycles") in line, line
    write = next(x for x in lines.splitlines() if "write(" in x)
    assert write.endswith("user cycles; watched entered")  # passed it on, charged nothing


class FakeCpu:
    def __init__(self, memory: dict[int, bytes]) -> None:
        self.memory = memory

    def read(self, address: int, size: int) -> bytes:
        if address not in self.memory:
            raise MemoryFault(address, size)
        return self.memory[address][:size]


class FakeTask:
    def __init__(self, memory: dict[int, bytes]) -> None:
        self.cpu = FakeCpu(memory)


def test_flags_decoded_by_call() -> None:
    task = FakeTask({})
    clone = call_arguments(task, _entry("clone"), "clone", [0x3D0F00, 0, 0, 0, 0, 0])
    assert clone[0] == ("CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
                        "CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID")
    fork = call_arguments(task, _entry("clone"), "clone", [0x1200011, 0, 0, 0, 0, 0])
    assert fork[0] == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert call_arguments(task, _entry("fcntl"), "fcntl", [3, 2, 1]) == ["3", "F_SETFD",
                                                                        "FD_CLOEXEC"]
    assert call_arguments(task, _entry("fcntl"), "fcntl", [3, 4, 0o4002])[1:] == [
        "F_SETFL", "O_RDWR|O_NONBLOCK"]
    assert call_arguments(task, _entry("fcntl"), "fcntl", [3, 1, 0]) == ["3", "F_GETFD"]
    assert call_arguments(task, _entry("ioctl"), "ioctl", [0, 0x5401, 0])[1] == "TCGETS"
    assert call_arguments(task, _entry("prctl"), "prctl", [38, 1, 0, 0, 0])[0] == \
        "PR_SET_NO_NEW_PRIVS"
    assert call_arguments(task, _entry("arch_prctl"), "arch_prctl", [0x1003, 0])[0] == \
        "ARCH_GET_FS"


def test_structures_decoded_from_guest_memory() -> None:
    inet = (struct.pack("<H", socket.AF_INET) + struct.pack("!H", 8080) + bytes([10, 0, 0, 1])
            + bytes(8))  # sin_zero
    unix = struct.pack("<H", socket.AF_UNIX) + b"/tmp/sock\0"
    act = KSIGACTION.pack(0x401000, 0x04000000 | 0x10000000, 0x402000, 1 << 9)
    inet6 = (struct.pack("<H", socket.AF_INET6) + struct.pack("!H", 443) + bytes(4)
             + socket.inet_pton(socket.AF_INET6, "::1") + bytes(4))
    abstract = struct.pack("<H", socket.AF_UNIX) + b"\0name"
    task = FakeTask({0x1000: inet, 0x2000: unix, 0x3000: act, 0x4000: inet6, 0x5000: abstract})
    assert call_details(task, "connect", [3, 0x4000, 28, 0, 0, 0]) == [
        "addr={sa_family=AF_INET6, sin6_port=htons(443), sin6_addr=::1}"]
    assert call_details(task, "connect", [3, 0x5000, 7, 0, 0, 0]) == [
        'addr={sa_family=AF_UNIX, sun_path="\\x00name"}']
    assert call_details(task, "connect", [3, 0x1000, 16, 0, 0, 0]) == [
        "addr={sa_family=AF_INET, sin_port=htons(8080), sin_addr=10.0.0.1}"]
    assert call_details(task, "bind", [3, 0x2000, 12, 0, 0, 0]) == [
        'addr={sa_family=AF_UNIX, sun_path="/tmp/sock"}']
    assert call_details(task, "rt_sigaction", [2, 0x3000, 0, 8, 0, 0], 0) == [
        "act={sa_handler=0x401000, sa_mask=[SIGUSR1], sa_flags=SA_RESTORER|SA_RESTART, "
        "sa_restorer=0x402000}"]
    assert call_details(task, "connect", [3, 0x9000, 16, 0, 0, 0]) == []  # a bad pointer


def test_trace_on_the_timing_machine_names_each_container(
        capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--trace", "--containers", "2", "--cores", "2", "--", "@hello"]) == 0
    out, err = capfd.readouterr()
    assert out == "hello from a coffer\nargc=1\n"  # c0's output, as without --trace
    for name in ("c0", "c1"):
        assert re.search(rf"^{name} \[1\] write\(1, 0x[0-9a-f]+, 20\) = 20 <\d+ cycles>$",
                         err, re.M), err
        assert re.search(rf"^{name} \[1\] exit_group\(0\) = \?", err, re.M)
