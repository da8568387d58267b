"""Output paths of every command: checked before any work, never renamed over special files.

A bad output path (a directory where a file goes, a file where a directory goes, a
parent that is a file, a place nothing can be created, a socket) is one line on stderr
and exit 2 before anything runs; ``/dev/null``, ``/dev/stdout``, FIFOs and symlinks are
written through and left as they were; ``-`` is standard output; new files honour the
umask (cofferos.results.outputs).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cofferos.cli import main
from cofferos.errors import ConfigError
from cofferos.results import outputs
from cofferos.results.records import write_json

ROOT = Path(__file__).resolve().parent.parent
SPEC = 'name = "tiny"\n[base]\nworkload = "@hello"\n[vary]\nkernel = ["linux"]\n'
PROC_DIR = Path("/proc")  #: a directory where nothing can be created, even as root


def _runners_that_must_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command's work replaced by a failure: the check must come before it."""
    import cofferos.api
    import cofferos.results.figures
    import cofferos.sim.experiment
    import cofferos.sim.isolation
    import cofferos.sim.isolation.report
    import cofferos.sim.sweeps.run
    import cofferos.timing

    def ran(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the command did its work before checking its output path")

    for module, name in ((cofferos.api, "run_program"), (cofferos.sim.experiment,
                                                          "run_containers"),
                         (cofferos.timing, "compare"), (cofferos.sim.isolation,
                                                        "run_experiment"),
                         (cofferos.sim.isolation.report, "write_report"),
                         (cofferos.sim.sweeps.run, "run_sweep"),
                         (cofferos.results.figures, "plot_sweep")):
        monkeypatch.setattr(module, name, ran)


def _bad_files(tmp: Path, suffix: str) -> dict[str, str]:
    """Paths that cannot take a file output, by why."""
    (tmp / "afile").write_text("")
    (tmp / f"adir{suffix}").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp / f"sock{suffix}"))
    sock.close()
    return {"a directory": str(tmp / f"adir{suffix}"),
            "under a file": str(tmp / "afile" / f"x{suffix}"),
            "missing parent under a file": str(tmp / "afile" / "sub" / f"x{suffix}"),
            "in /proc": str(PROC_DIR / f"coffersim-test{suffix}"),
            "a socket": str(tmp / f"sock{suffix}")}


def _bad_directories(tmp: Path) -> dict[str, str]:
    """Paths that cannot take a directory output, by why."""
    (tmp / "afile").write_text("")
    return {"a file": str(tmp / "afile"), "under a file": str(tmp / "afile" / "d"),
            "in /proc": str(PROC_DIR / "coffersim-test"), "a device": os.devnull,
            "standard output": "-"}


def _commands(tmp: Path) -> list[tuple[str, str, Callable[[str], list[str]]]]:
    """(command, kind of output, argv for an output path) for every output option."""
    spec = tmp / "tiny.toml"
    spec.write_text(SPEC)
    sweep_dir = tmp / "sweepdir"
    sweep_dir.mkdir()
    return [
        ("run --stats", ".json", lambda p: ["run", "--stats", p, "--", "@hello"]),
        ("run --kernel --stats", ".json",
         lambda p: ["run", "--kernel", "linux", "--stats", p, "--", "@hello"]),
        ("compare --plot", ".png",
         lambda p: ["compare", "@hello", "--kernels", "linux", "--containers", "1",
                    "--plot", p]),
        ("experiment report --docs", ".md", lambda p: ["experiment", "report", "--docs", p,
                                                       "--out", str(tmp / "iso")]),
        ("plot -o", ".png",
         lambda p: ["plot", str(sweep_dir), "--kind", "throughput", "-o", p]),
        ("compare --out", "dir",
         lambda p: ["compare", "@hello", "--kernels", "linux", "--containers", "1",
                    "--out", p]),
        ("experiment --out", "dir",
         lambda p: ["experiment", "fault", "--kernels", "linux", "--out", p]),
        ("experiment all --out", "dir",
         lambda p: ["experiment", "all", "--kernels", "linux", "--out", p]),
        ("sweep --out", "dir", lambda p: ["sweep", str(spec), "--out", p]),
        ("sensitivity --docs", ".md",
         lambda p: ["sensitivity", "noisy-neighbor", "--quick", "--docs", p,
                    "--out", str(tmp / "sens")]),
        ("sensitivity --out", "dir",
         lambda p: ["sensitivity", "noisy-neighbor", "--quick", "--out", p]),
    ]


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def test_every_bad_output_path_is_one_line_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    _runners_that_must_not_run(monkeypatch)
    checked = 0
    for command, kind, argv in _commands(tmp_path):
        if kind == "dir":
            cases = _bad_directories(tmp_path)
        else:
            place = tmp_path / command.replace(" ", "_")
            place.mkdir()
            cases = _bad_files(place, kind)
        for why, path in cases.items():
            before = _tree(tmp_path)
            status = main(argv(path))
            err = capfd.readouterr().err
            where = f"{command} {path} ({why})"
            assert status == 2, where
            assert err.startswith("coffersim: error: ") and err.count("\n") == 1, (where, err)
            assert "Traceback" not in err, where
            assert _tree(tmp_path) == before, f"{where}: something was written"
            checked += 1
    assert checked == 6 * 5 + 5 * 5
    assert not Path(PROC_DIR / "coffersim-test").exists()


@pytest.mark.parametrize("argv", [
    ["compare", "@hello", "--plot", "-"],
    ["compare", "@hello", "--plot", "figure.gif"],
    ["experiment", "report", "--docs", "-"],
])
def test_outputs_that_cannot_be_standard_output_or_have_no_format(
        argv: list[str], monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    _runners_that_must_not_run(monkeypatch)
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.startswith("coffersim: error: ") and err.count("\n") == 1


def _identity(path: str) -> tuple[int, int, int, str | None]:
    st = os.lstat(path)
    return (st.st_mode, st.st_ino, st.st_rdev,
            os.readlink(path) if stat.S_ISLNK(st.st_mode) else None)


@contextmanager
def _reading(fifo: Path) -> Iterator[list[bytes]]:
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    try:
        yield got
    finally:
        reader.join()


def test_special_files_are_written_through_and_left_as_they_were(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    links = {"to a file": tmp_path / "link.json", "to /dev/null": tmp_path / "null.json"}
    links["to a file"].symlink_to(real)
    links["to /dev/null"].symlink_to(os.devnull)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    watched = [os.devnull, "/dev/stdout", *map(str, links.values()), str(fifo)]
    before = {path: _identity(path) for path in watched}
    for path in (os.devnull, *links.values()):
        assert main(["run", "--stats", str(path), "--", "@hello"]) == 0
    with _reading(fifo) as got:
        assert main(["run", "--stats", str(fifo), "--", "@hello"]) == 0
    assert json.loads(got[0])["exit_code"] == 0
    assert json.loads(real.read_text())["exit_code"] == 0  # the link's target was written
    assert {path: _identity(path) for path in watched} == before
    assert capfd.readouterr().err == ""


def test_dev_stdout_is_this_process_standard_output_and_stays_a_link(tmp_path: Path) -> None:
    before = _identity("/dev/stdout"), _identity(os.devnull)
    done = subprocess.run([sys.executable, "-m", "cofferos", "run", "--stats", "/dev/stdout",
                           "--", "@hello"], capture_output=True, text=True, cwd=tmp_path,
                          check=False)
    assert done.returncode == 0, done.stderr
    said, _, record = done.stdout.partition("{")
    assert "hello from a coffer" in said
    assert json.loads("{" + record)["exit_code"] == 0
    assert (_identity("/dev/stdout"), _identity(os.devnull)) == before


def test_stats_dash_is_standard_output(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--stats", "-", "--", "@nullsys", "10"]) == 0
    out = capfd.readouterr().out
    record = json.loads(out[out.index("{"):])
    assert record["syscalls"]["by_name"]["getppid"] == 10


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_new_files_honour_the_umask_and_existing_ones_keep_their_mode(
        tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        assert main(["run", "--stats", str(tmp_path / "new.json"), "--", "@hello"]) == 0
        write_json(tmp_path / "direct.json", {})
        kept = tmp_path / "kept.json"
        kept.write_text("")
        kept.chmod(0o604)
        write_json(kept, {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "direct.json").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), outputs.open_output(target) as out:
        out.write("half")
        raise RuntimeError("stopped half-way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_missing_parents_of_a_file_output_are_made(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "stats.json"
    outputs.check_file(target, "--stats")
    assert not (tmp_path / "a").exists()  # the check makes nothing
    write_json(target, {"ok": 1})
    assert json.loads(target.read_text()) == {"ok": 1}


def test_a_block_device_is_refused() -> None:
    devices = [Path("/dev", name) for name in sorted(os.listdir("/dev"))
               if stat.S_ISBLK(os.stat(Path("/dev", name)).st_mode)]
    if not devices:
        pytest.skip("no block device to point at")
    with pytest.raises(ConfigError, match="is a block device"):
        outputs.check_file(devices[0], "--stats")


def test_no_new_file_or_directory_is_made_in_dev() -> None:
    """``--stats /dev/sda`` on a machine without that disk created a regular file there."""
    if os.stat("/dev").st_dev == os.stat("/").st_dev:
        pytest.skip("/dev is not a filesystem of its own here")
    missing = Path("/dev/coffersim-no-such-device")
    assert not missing.exists()
    for check in (outputs.check_file, outputs.check_directory):
        with pytest.raises(ConfigError, match="no such device"):
            check(missing, "--stats")
    assert main(["run", "--stats", str(missing), "--", "@hello"]) == 2
    assert not missing.exists()


@pytest.mark.parametrize("page", ["regular", "link to /dev/null", "fifo"])
def test_the_isolation_page_puts_figures_beside_a_file_never_beside_a_device(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    """``experiment report --docs /dev/null`` must not make /dev/figures."""
    from cofferos.sim.isolation import report
    from cofferos.sim.isolation.common import ExperimentResult

    def fake_run(module: Any, _params: Any) -> ExperimentResult:
        return ExperimentResult(name="fault", rows=[{"kernel": "linux", "ok": 1}],
                                configuration={}, finding="none",
                                draw=lambda path: Path(path).write_bytes(b"png"))

    monkeypatch.setattr(report, "run_experiment", fake_run)
    docs = tmp_path / "pages" / "isolation.md"
    docs.parent.mkdir()
    if page == "link to /dev/null":
        docs.symlink_to(os.devnull)
    elif page == "fifo":
        os.mkfifo(docs)
    with _reading(docs) if page == "fifo" else _nothing() as got:
        report.write_report(tmp_path / "out", docs, ["coffersim"], names=["fault"])
    figure = docs.parent / "figures" / "isolation-fault.png"
    if page == "regular":
        assert figure.read_bytes() == b"png" and "## fault" in docs.read_text()
    else:
        assert not (docs.parent / "figures").exists()
        assert stat.S_ISLNK(os.lstat(docs).st_mode) or stat.S_ISFIFO(os.lstat(docs).st_mode)
    if page == "fifo":
        assert b"## fault" in got[0]


@contextmanager
def _nothing() -> Iterator[list[bytes]]:
    yield []
