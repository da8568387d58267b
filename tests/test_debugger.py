"""The debugger (``run --break/--step/--script``) as a student meets it.

A script drives it on @hello and on ``twowrites.c`` (two write(2) calls, the
second one stopped at), and the shown call, registers, descriptors and result are
checked against what the guest passes; the guest's stdout stays the guest's and
matches its native run. The real prompt is driven once in a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cofferos.cli import main
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "debugger"
PTY_TIMEOUT_S = 120


def _script(tmp_path: Path, *commands: str) -> str:
    path = tmp_path / "commands.txt"
    path.write_text("".join(f"{c}\n" for c in commands))
    return str(path)


@pytest.fixture(scope="module")
def twowrites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(GUESTS / "twowrites.c", tmp_path_factory.mktemp("guests"))


def test_break_on_hello_shows_the_call_registers_descriptors_and_result(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The issue's lesson: stop before @hello's second write (its second line)."""
    script = _script(tmp_path, "regs", "x/5xb rsi", "fds", "tasks", "next", "continue")
    assert main(["run", "--break", "write:2", "--script", script, "--", "@hello"]) == 0
    out, err = capfd.readouterr()
    assert out == "hello from a coffer\nargc=1\n"  # the guest's stdout, and nothing else
    assert "(coffersim)" not in out
    assert "stopped before write #2 of pid 1 (breakpoint write:2)" in err
    call = re.search(r"^write\(1, (0x[0-9a-f]+), 7\)$", err, re.M)
    assert call is not None, err
    buffer = int(call[1], 16)
    assert 'data="argc=1\\n"' in err
    assert re.search(r"^rdi    0x0000000000000001$", err, re.M)  # fd
    assert re.search(rf"^rsi    {buffer:#018x}$", err, re.M)  # the buffer
    assert re.search(r"^rdx    0x0000000000000007$", err, re.M)  # 7 bytes
    assert re.search(r"^rax    0x0000000000000001$", err, re.M)  # __NR_write
    assert f"{buffer:#x}: 0x61 0x72 0x67 0x63 0x3d" in err  # "argc="
    assert re.search(r"^  1 \S+  O_WRONLY", err, re.M)  # fd 1, open for writing
    assert re.search(r"^    1     1 R      hello", err, re.M)
    assert re.search(r"^returned 7 <\d+ cycles>$", err, re.M)


@needs_gcc
def test_break_at_the_second_write_and_compare_with_native(
        twowrites: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    native = subprocess.run([str(twowrites)], capture_output=True, check=False)
    script = _script(tmp_path, "regs", "x/s rsi", "next", "cycles")  # then EOF: continue
    status = main(["run", "--break", "write:2", "--script", script, "--", str(twowrites)])
    out, err = capfd.readouterr()
    assert (status, out.encode()) == (native.returncode, native.stdout)
    assert "stopped before write #2 of pid 1" in err
    assert re.search(r"^write\(1, 0x[0-9a-f]+, 4\)$", err, re.M), err
    assert re.search(r'^0x[0-9a-f]+: "two\\n"$', err, re.M)
    assert re.search(r"^rdx    0x0000000000000004$", err, re.M)
    assert re.search(r"^returned 4 <\d+ cycles>$", err, re.M)
    assert "cycles " in err and "never reached" not in err


def test_step_stops_before_every_call_until_the_script_ends(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "continue", "next", "continue", "finish")
    assert main(["run", "--step", "--script", script, "--", "@hello"]) == 0
    err = capfd.readouterr().err
    stops = re.findall(r"^stopped before (\w+) #(\d+)", err, re.M)
    # first call, second, (next shows its return), third; finish: no more stops
    assert stops == [("brk", "1"), ("brk", "2"), ("arch_prctl", "1")], stops
    assert "arch_prctl(ARCH_SET_FS, 0x" in err
    assert re.search(r"^returned \d+ <\d+ cycles>$", err, re.M)


def test_end_of_the_script_means_continue(tmp_path: Path,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "call")
    assert main(["run", "--break", "brk", "--script", script, "--", "@hello"]) == 0
    err = capfd.readouterr().err
    assert len(re.findall(r"^stopped before brk", err, re.M)) >= 3  # each brk, then on


def test_a_mistake_at_the_prompt_is_one_line_and_the_prompt_returns(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "frobnicate", "x/zz 1", "x/4xb 0x10", "fds 999", "break nosuch",
                     "regs")
    assert main(["run", "--break", "write", "--script", script, "--", "@hello"]) == 0
    err = capfd.readouterr().err
    assert "error: unknown command 'frobnicate' (try help)\n" in err
    assert "error: x/zz: expected x/NFU" in err
    assert "error: cannot read guest memory at 0x10\n" in err
    assert "error: no task 999 in this coffer\n" in err
    assert "no x86-64 system call named 'nosuch'" in err
    assert "Traceback" not in err
    assert re.search(r"^rip    0x", err, re.M)  # the prompt came back each time


@pytest.mark.parametrize(("options", "message"), [
    (["--break", "nosuch"], "--break nosuch: no x86-64 system call named 'nosuch'"),
    (["--break", "write:0"], "--break write:0: N counts calls from 1"),
    (["--break", "write:two"], "--break write:two: N must be a whole number"),
    (["--break", "write", "--cores", "2"], "not available on the timing machine"),
    (["--script", "/nonexistent/commands"], "--script needs a --break"),
    (["--break", "write", "--script", "/nonexistent/commands"], "--script /nonexistent"),
    (["--trace", "loud"], "expected brief or verbose"),
])
def test_bad_debugger_options_are_one_line(options: list[str], message: str,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(["run", *options, "--", "@hello"])
    except SystemExit as stop:  # argparse's own check of --trace's MODE
        status = stop.code
    assert status == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("coffersim: error: ") and message in err


def test_a_breakpoint_never_reached_is_said(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--break", "write:3", "--", "@hello"]) == 0
    assert "breakpoint write:3 was never reached (write ran 2 times)" in capfd.readouterr().err


def _read_until(fd: int, wanted: str, seen: list[str]) -> str:
    deadline = time.monotonic() + PTY_TIMEOUT_S
    while wanted not in "".join(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted!r} never came; saw {''.join(seen)!r}")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:  # the child closed the terminal
                break
    return "".join(seen)


def test_the_real_prompt_in_a_terminal() -> None:
    """A pty plays the terminal: the prompt appears, ``next`` and ``continue`` are typed."""
    try:
        master, slave = pty.openpty()
    except OSError:
        pytest.skip("no pseudo-terminals here")
    child = subprocess.Popen(
        [sys.executable, "-m", "cofferos", "run", "--break", "write:2", "--", "@hello"],
        stdin=slave, stderr=slave, stdout=subprocess.PIPE, close_fds=True)
    os.close(slave)
    seen: list[str] = []
    try:
        _read_until(master, "(coffersim) ", seen)
        os.write(master, b"next\n")
        _read_until(master, "returned 7", seen)
        os.write(master, b"continue\n")
        out, _ = child.communicate(timeout=PTY_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    shown = "".join(seen)
    assert child.returncode == 0
    assert out == b"hello from a coffer\nargc=1\n"
    assert re.search(r"write\(1, 0x[0-9a-f]+, 7\)", shown)  # the second line, argc=1


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_a_tmux_pane_types_next_and_continue(tmp_path: Path) -> None:
    """The issue's check, as a student would do it: a tmux pane runs the debugger,
    ``next`` and ``continue`` are typed at its prompt, and the pane shows the call,
    its result and the guest's output."""
    session = f"coffersim-debug-{os.getpid()}"
    done = tmp_path / "status"
    command = (f"{shlex.quote(sys.executable)} -m cofferos run --break write:2 -- @hello; "
               f"echo $? > {shlex.quote(str(done))}")
    env = {**os.environ, "TMUX": ""}  # a server of its own, even when run inside tmux
    started = subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session,
                              "-x", "160", "-y", "50", command], env=env, check=False)
    if started.returncode != 0:
        pytest.skip("tmux could not start a session here")
    target = ["tmux", "-L", session]
    try:
        shown = _pane_shows_on(target, session, "(coffersim) ")
        assert re.search(r"write\(1, 0x[0-9a-f]+, 7\)", shown), shown
        subprocess.run([*target, "send-keys", "-t", session, "next", "Enter"], check=True)
        shown = _pane_shows_on(target, session, "returned 7")
        subprocess.run([*target, "send-keys", "-t", session, "continue", "Enter"], check=True)
        deadline = time.monotonic() + PTY_TIMEOUT_S
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run([*target, "kill-server"], capture_output=True, check=False)
    assert "hello from a coffer" in shown and "argc=1" in shown


def _pane_shows_on(target: list[str], session: str, wanted: str) -> str:
    deadline = time.monotonic() + PTY_TIMEOUT_S
    shown = ""
    while wanted not in shown:
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted!r} never appeared in the pane: {shown!r}")
        time.sleep(0.2)
        shown = subprocess.run([*target, "capture-pane", "-p", "-J", "-S", "-200", "-t",
                                session], capture_output=True, text=True,
                               check=False).stdout
    return shown


def test_the_personality_stack_before_and_after_the_call(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "personalities", "next")
    assert main(["run", "--personality", "fastpath", "--break", "getppid:1", "--script", script,
                 "--", "@nullsys", "2"]) == 0
    err = capfd.readouterr().err
    assert "stack: fastpath\ncost: fastpath\n" in err  # the hooks getppid goes through
    assert re.search(r"^returned 0 <(\d+) cycles>\n  personality: fastpath charged -\d+ cycles$",
                     err, re.M), err


def test_the_personality_stack_leaves_out_the_hooks_a_call_does_not_need(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """hardened declares on_entry only for the calls it refuses (hooks_for)."""
    script = _script(tmp_path, "personalities", "continue")
    assert main(["run", "--personality", "hardened", "--personality", "fastpath", "--break",
                 "getppid:1", "--script", script, "--", "@nullsys", "2"]) == 0
    err = capfd.readouterr().err
    assert "stack: hardened, fastpath\ncost: hardened, fastpath\n(coffersim)" in err, err


def test_tasks_say_what_each_sleeping_task_waits_in(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "tasks", "finish")
    assert main(["run", "--break", "exit_group:1", "--script", script, "--", "@pipeline"]) == 0
    err = capfd.readouterr().err
    assert re.search(r"^    1     1 S      pipeline +poll \(\d+ wait queues\)$", err, re.M), err
    assert err.count("stopped before") == 1  # finish: no other exit_group stops


def _shape(text: str) -> str:
    """A transcript with its numbers blanked: what survives a change of costs or layout."""
    return re.sub(r"0x[0-9a-f]+|\d+", "N", text)


def test_the_documented_session_is_what_the_command_prints(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "debugging.md").read_text()
    shown = doc.split("## A session", 1)[1].split("```\n", 2)[1]
    script = _script(tmp_path, "regs", "x/16xb rsi", "x/s rsi", "fds", "tasks", "cycles",
                     "next", "continue")
    assert main(["run", "--break", "write:2", "--script", script, "--", "@hello"]) == 0
    assert _shape(capfd.readouterr().err) == _shape(shown)


def test_signals_maps_and_mounts_of_a_program_with_handlers(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "call", "signals", "maps", "mounts", "finish")
    assert main(["run", "--break", "kill:1", "--script", script, "--", "@forkexec"]) == 0
    err = capfd.readouterr().err
    assert re.search(r"^kill\(\d+, SIGTERM\)$", err, re.M), err
    assert re.search(r"^caught    SIGUSR1 SIGCHLD$", err, re.M)
    assert re.search(r"^handler   SIGUSR1 -> 0x[0-9a-f]+$", err, re.M)
    assert re.search(r"^[0-9a-f]+-[0-9a-f]+ r-xp .* /forkexec$", err, re.M)
    assert re.search(r"^[0-9a-f]+-[0-9a-f]+ rw-p .* \[stack\]$", err, re.M)
    assert "\nproc /proc proc " in err


def test_next_over_a_call_that_sleeps_then_to_the_next_call(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """@pipeline's third poll waits for its children (timeout -1): next waits with it."""
    script = _script(tmp_path, "next", "tasks", "next", "continue")
    assert main(["run", "--break", "poll:3", "--script", script, "--", "@pipeline"]) == 0
    err = capfd.readouterr().err
    assert re.search(r"^poll\(0x[0-9a-f]+, 2, -1\)$", err, re.M), err
    assert re.search(r"^the call sleeps \(blocked\); it returns once woken\n"
                     r"returned 2 <\d+ cycles>$", err, re.M)
    assert re.search(r"^    2     2 S      pipeline +clock_nanosleep \(", err, re.M)
    assert re.search(r"^stopped before read #1 of pid 1 \(next\)\nread\(3, ", err, re.M)
    assert err.count("stopped before poll") == 1  # the woken poll is the same call


def test_next_over_exit_group_says_the_task_ended(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script = _script(tmp_path, "next", "regs", "tasks")
    assert main(["run", "--break", "exit_group", "--script", script, "--", "@hello"]) == 0
    err = capfd.readouterr().err
    assert re.search(r"^the task ended: the call does not return <\d+ cycles>$", err, re.M)
    assert "error: pid 1 has ended: no registers or memory\n" in err
    assert re.search(r"^    1     1 Z      hello$", err, re.M)
