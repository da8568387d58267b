"""``coffersim run --personality-change``: a live change of the stack from the command line.

A C guest creates a file, calls getppid once, then creates another. Natively
(and in a coffer without a change) both succeed; with ``agent`` (which lets only
/tmp be written) switched in after the first getppid, only the second is denied,
and ``--stats`` counts that one denial. ``at=SECONDS`` changes on the coffer's
clock: at 0 both creations are denied, at a time the run never reaches neither
is, on the functional run as on the timed machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cofferos import cli
from tests.support import compile_guest, needs_gcc, run_native

WRITES = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void create(const char *path) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    printf("%s: %s\n", path, fd < 0 ? (errno == EACCES ? "EACCES" : strerror(errno)) : "ok");
    if (fd >= 0) close(fd);
}

int main(void) {
    create("before");
    getppid();
    create("after");
    return 0;
}
"""
#: agent's default policy: read anywhere, write only under /tmp (the coffer's cwd is /).
AGENT = "agent"


@pytest.fixture(scope="module")
def writes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("change")
    source = folder / "writes.c"
    source.write_text(WRITES)
    return compile_guest(source, folder)


def _run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(["run", "--no-summary", *argv])
    return status, capfd.readouterr().out


@needs_gcc
def test_a_write_is_denied_only_after_the_change(writes: Path, tmp_path: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "native"
    workdir.mkdir()
    native = run_native(writes, cwd=workdir).stdout.decode()
    assert native == "before: ok\nafter: ok\n"
    assert _run(capfd, "--", str(writes)) == (0, native)
    stats = tmp_path / "s.json"
    status, out = _run(capfd, "--personality-change", f"after=getppid:1:{AGENT}",
                       "--stats", str(stats), "--", str(writes))
    assert (status, out) == (0, "before: ok\nafter: EACCES\n")
    record = json.loads(stats.read_text())
    assert record["personality_counters"]["agent"]["denied"] == 1
    assert record["config"]["personality_changes"] == [["after=getppid:1", [AGENT]]]


@needs_gcc
@pytest.mark.parametrize("timed", [[], ["--kernel", "cofferos"]], ids=["functional", "timed"])
def test_at_a_simulated_time(writes: Path, timed: list[str],
                             capfd: pytest.CaptureFixture[str]) -> None:
    status, out = _run(capfd, *timed, "--personality-change", f"at=0:{AGENT}",
                       "--", str(writes))
    assert (status, out) == (0, "before: EACCES\nafter: EACCES\n")
    status, out = _run(capfd, *timed, "--personality-change", f"at=1000:{AGENT}",
                       "--", str(writes))
    assert (status, out) == (0, "before: ok\nafter: ok\n")


@needs_gcc
def test_one_trigger_repeated_stacks_several(writes: Path, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "s.json"
    status, out = _run(capfd, "--personality-change", "after=getppid:1:fastpath",
                       "--personality-change", f"after=getppid:1:{AGENT}",
                       "--stats", str(stats), "--", str(writes))
    assert (status, out) == (0, "before: ok\nafter: EACCES\n")
    record = json.loads(stats.read_text())
    assert list(record["personality_counters"]) == ["fastpath", "agent"]
