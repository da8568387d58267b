"""What a personality written from docs/personalities.md alone relies on.

* ``SyscallContext`` helpers: ``ctx.resolve_path`` gives the path the kernel
  resolves (cwd, dirfd, symlinks, ".."), ``ctx.read``/``ctx.write``/
  ``ctx.read_string`` reach guest memory through the kernel's uaccess checks, and
  a helper's errno that escapes ``on_entry`` or ``handle`` is the call's answer: a
  C guest that opens through a personality that resolves every path prints what it
  prints natively (EFAULT, ENOENT included).
* Published counters: ``Personality.counters`` in ``RunResult.personality_counters``
  and in ``/proc/coffer/personalities`` read by the guest; a counters hook that
  fails is reported and leaves the run's result alone.
* ``RunResult.coffer``: the coffer that ran, dropped when the result is pickled.
* Options checked when a class is declared; an entry point whose name is not its
  class's ``name`` is refused.
"""

from __future__ import annotations

import io
import os
import pickle
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult
from cofferos.personalities import registry
from cofferos.personalities.base import (
    NOT_HANDLED,
    RESERVED_FIRST,
    Option,
    Personality,
    PersonalityError,
    SyscallContext,
)
from tests.support import compile_guest, needs_gcc, run_native

OPENS = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name(int err) {
    switch (err) {
    case EFAULT: return "EFAULT"; case ENOENT: return "ENOENT";
    case EACCES: return "EACCES"; case EBADF: return "EBADF";
    default: return strerror(err);
    }
}

static void show(const char *what, int fd) {
    if (fd < 0) printf("%s: %s\n", what, name(errno));
    else { printf("%s: ok\n", what); close(fd); }
}

int main(void) {
    mkdir("d", 0755);
    mkdir("d/sub", 0755);
    symlink("d/sub", "link");
    symlink("sub/f", "d/last");
    if (chdir("d") != 0) return 1;
    show("../link/f", open("../link/f", O_CREAT | O_WRONLY, 0644));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    show("at d: sub/g", openat(dir, "sub/g", O_CREAT | O_WRONLY, 0644));
    show("last", open("last", O_RDONLY));
    show("bad pointer", open((const char *)8, O_RDONLY));
    show("missing dir", open("nodir/x", O_RDONLY));
    show("bad dirfd", openat(99, "x", O_RDONLY));
    close(dir);
    return 0;
}
"""

UPCASE = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    char word[] = "coffer";
    long n = syscall(1000, word, 6L);
    printf("upcase %ld %s\n", n, word);
    n = syscall(1000, (char *)8, 4L);
    printf("bad %ld %s\n", n, n < 0 && errno == EFAULT ? "EFAULT" : "?");
    n = syscall(1000, "rodata", 6L);
    printf("read-only %ld %s\n", n, n < 0 && errno == EFAULT ? "EFAULT" : "?");
    char text[512];
    int fd = open("/proc/coffer/personalities", O_RDONLY);
    ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (got < 0) return 2;
    text[got] = 0;
    fputs(text, stdout);
    return 0;
}
"""


class Resolver(Personality):
    """Resolves the path of every open as the kernel will, and counts the opens."""

    name = "resolver"
    options = {"tag": Option(str, "x", "a tag shown in /proc"),
               "weight": Option(float, 1, "an int default for a float is fine")}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.paths: list[str] = []

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if ctx.name == "open":
            self.paths.append(ctx.resolve_path(ctx.args[0]))
        elif ctx.name == "openat":
            follow = not ctx.args[2] & os.O_NOFOLLOW
            self.paths.append(ctx.resolve_path(ctx.args[1], dirfd=ctx.args[0], follow=follow))
        return None

    def counters(self) -> dict[str, int | float]:
        return {"opens": len(self.paths), "ratio": 0.5}


class Upcase(Personality):
    """``syscall(1000, buf, n)``: upper-case ``n`` bytes of ``buf`` in place."""

    name = "upcase"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.served = 0

    def handle(self, ctx: SyscallContext) -> Any:
        if ctx.nr != RESERVED_FIRST:
            return NOT_HANDLED
        address, size = ctx.args[:2]
        ctx.write(address, ctx.read(address, size).upper())
        self.served += 1
        return size

    def counters(self) -> dict[str, int | float]:
        return {"served": self.served}


class Quiet(Personality):
    name = "quiet"  #: publishes nothing


class BadCounters(Personality):
    name = "bad-counters"

    def counters(self) -> dict[str, int | float]:
        return {"not a name": 1}


def _run(binary: Path, stack: list[Personality]) -> tuple[RunResult, bytes]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace(stack)
    coffer.spawn(str(binary), [binary.name], None)
    return coffer.run(), out.getvalue()


def _guest(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.c"
    path.write_text(source)
    return compile_guest(path, tmp_path)


@needs_gcc
def test_resolve_path_is_the_kernels_and_errors_are_the_calls(tmp_path: Path) -> None:
    binary = _guest(tmp_path, "opens", OPENS)
    workdir = tmp_path / "native"
    workdir.mkdir()
    native = run_native(binary, cwd=workdir)
    resolver = Resolver()
    result, out = _run(binary, [resolver])
    assert out.decode() == native.stdout.decode()
    assert result.exit_code == native.status == 0
    assert "bad pointer: EFAULT" in out.decode() and "missing dir: ENOENT" in out.decode()
    # the libc's own opens come first; the three that failed never reached the list
    assert resolver.paths[-4:] == ["/d/sub/f", "/d", "/d/sub/g", "/d/sub/f"]
    assert result.personality_counters == {"resolver": {"opens": len(resolver.paths),
                                                        "ratio": 0.5}}


@needs_gcc
def test_read_and_write_guest_memory_and_proc_shows_counters(tmp_path: Path) -> None:
    binary = _guest(tmp_path, "upcase", UPCASE)
    result, out = _run(binary, [Resolver(tag="t"), Upcase(), Upcase(), Quiet()])
    lines = out.decode().splitlines()
    assert lines[:3] == ["upcase 6 COFFER", "bad -1 EFAULT", "read-only -1 EFAULT"]
    # the top of the stack serves: the second upcase, once (the faults are not counted);
    # the file is made when opened, so it counts its own open
    opens = result.personality_counters["resolver"]["opens"]
    assert lines[3:] == [f"resolver:tag=t,weight=1\topens={opens} ratio=0.5",
                         "upcase\tserved=0", "upcase\tserved=1", "quiet"]
    assert result.personality_counters == {
        "resolver": {"opens": opens, "ratio": 0.5}, "upcase": {"served": 0},
        "upcase#2": {"served": 1}, "quiet": {}}


def test_a_failing_counters_hook_is_reported_and_the_run_stands() -> None:
    from cofferos.workloads import resolve

    result, _ = _run(resolve("@hello"), [BadCounters(), Upcase()])
    assert result.exit_code == 0
    assert result.personality_counters == {"upcase": {"served": 0}}
    assert any("bad-counters" in oops and "counters returned dict" in oops
               for oops in result.oopses), result.oopses


def test_the_result_exposes_the_coffer_but_does_not_pickle_it() -> None:
    from cofferos.api import run_program

    result = run_program("@hello", stdout=io.BytesIO())  # type: ignore[arg-type]
    assert isinstance(result.coffer, Coffer)
    assert result.coffer.fs.lookup("/proc/coffer/personalities", result.coffer.fs.root)
    copy = pickle.loads(pickle.dumps(result))
    assert copy.coffer is None and copy.exit_code == result.exit_code
    assert copy.syscalls == result.syscalls


def test_a_helper_fault_outside_on_entry_and_handle_is_a_failure() -> None:
    """on_exit has no call left to answer: an escaped EFAULT is the personality's bug."""
    from cofferos.workloads import resolve

    class ReadsInExit(Personality):
        name = "reads-in-exit"

        def on_exit(self, ctx: SyscallContext, result: int) -> int:
            ctx.read(8, 4)
            return result

    result, _ = _run(resolve("@hello"), [ReadsInExit()])
    assert result.end_reason == "personality-failure"
    assert any("on_exit raised FsError" in oops for oops in result.oopses)


@pytest.mark.parametrize(("option", "message"), [
    (Option(int, "3", "h"), "has type int but its default '3' is a str"),
    (Option(int, True, "h"), "has type int but its default True is a bool"),
    (Option(bool, 0, "h"), "has type bool but its default 0 is a int"),
    (Option(list, [], "h"), "has type 'list'; option types are int, str, float, bool"),
    ((int, 3, "h"), "is a tuple, not an Option(type, default, help)"),
])
def test_option_types_are_checked_when_the_class_is_declared(option: Any,
                                                             message: str) -> None:
    with pytest.raises(TypeError, match="option 'level'") as raised:
        type("Declared", (Personality,), {"name": "declared", "options": {"level": option}})
    assert message in str(raised.value)


def test_options_must_be_a_dict() -> None:
    with pytest.raises(TypeError, match="options is a list, not a dict of NAME: Option"):
        type("Listed", (Personality,), {"name": "listed", "options": [Option(int, 1, "h")]})


def test_an_entry_point_must_carry_its_class_name(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("fast", "cofferos.personalities.builtin.fastpath:FastPath",
                       registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    with pytest.raises(PersonalityError) as raised:
        registry.parse_spec("fast")
    message = str(raised.value)
    assert "'fast'" in message and "'fastpath'" in message and "\n" not in message
    assert dict(registry.available().listing())["fast"].__class__ is PersonalityError



def test_the_builtins_publish_what_they_audit() -> None:
    """hardened's minimal profile has no rmdir: @fileio's cleanup is denied and counted."""
    from cofferos.api import run_program

    config = CofferConfig(cwd="/tmp", personalities=("hardened:profile=minimal",))
    result = run_program("@fileio", ["1"], config=config, stdout=io.BytesIO(),  # type: ignore[arg-type]
                         stderr=io.BytesIO())  # type: ignore[arg-type]
    assert result.coffer is not None
    denials = result.coffer.dispatcher.personalities.personalities[0].denials
    assert {d["syscall"] for d in denials} >= {"rmdir"}
    assert result.personality_counters == {"hardened": {"denied": len(denials)}}


def test_the_cli_says_a_failing_counters_hook_killed_nothing(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from cofferos import cli

    point = EntryPoint("bad-counters", f"{__name__}:BadCounters", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    assert cli.main(["run", "--no-summary", "--personality", "bad-counters", "--",
                     "@hello"]) == 0
    err = capfd.readouterr().err.splitlines()
    assert err == ["coffersim: personality counters left out: personality 'bad-counters': "
                   "counters returned dict {'not a name': 1}, not a dict of counter names "
                   "to numbers"], err


def test_a_timed_record_sums_the_containers_counters() -> None:
    from types import SimpleNamespace

    from cofferos.results.records import personality_counters
    from cofferos.sim.experiment import ContainerReport

    def container(name: str, denied: int) -> ContainerReport:
        return ContainerReport(name=name, exit_code=0, ops=0, seconds=1.0, throughput=0.0,
                               p50_us=None, p99_us=None,
                               personality_counters={"hardened": {"denied": denied},
                                                     "fastpath": {}})

    report = SimpleNamespace(containers=[container("c0", 2), container("c1", 3)])
    assert personality_counters(report) == {"hardened": {"denied": 5},  # type: ignore[arg-type]
                                            "fastpath": {}}


def test_an_escaped_errno_is_the_answer_on_sampled_and_untimed_calls() -> None:
    """The stack times one call in about 16 through a second path: both give the errno."""
    import errno

    from cofferos.coffers.fs import FsError
    from cofferos.personalities.stack import PersonalityStack

    class Refuses(Personality):
        name = "refuses"

        def on_entry(self, ctx: SyscallContext) -> int | None:
            if ctx.name == "openat":
                raise FsError(errno.EACCES)
            return None

        def handle(self, ctx: SyscallContext) -> Any:
            raise FsError(errno.EFAULT)

    stack = PersonalityStack([Refuses()])
    answers, sampled = [], []
    for _ in range(4):  # the first call is sampled, the next few are not
        opening = SyscallContext(None, 257, "openat", [0] * 6)  # type: ignore[arg-type]
        other = SyscallContext(None, 39, "getpid", [0] * 6)  # type: ignore[arg-type]
        answers.append(stack.enter(opening))
        sampled.append(bool(stack.weight))  # handle takes the path enter took
        answers.append(stack.handle(other))
    assert answers == [(-errno.EACCES, 1), -errno.EFAULT] * 4
    assert sampled[0] and not all(sampled)


CLOCKS = r"""
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec ts;
    for (int i = 0; i < 3; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("%lld\n", (long long)ts.tv_nsec);
    return 0;
}
"""


@needs_gcc
def test_deterministic_publishes_how_far_its_clock_stepped(tmp_path: Path) -> None:
    from cofferos.api import run_program

    binary = _guest(tmp_path, "clocks", CLOCKS)
    out = io.BytesIO()
    config = CofferConfig(personalities=("deterministic:step_ns=500",))
    result = run_program(str(binary), config=config, stdout=out)  # type: ignore[arg-type]
    assert out.getvalue() == b"1000\n"  # the third read: two steps in
    assert result.personality_counters == {"deterministic": {"clock_elapsed_ns": 1500,
                                                             "replayed": 0}}
