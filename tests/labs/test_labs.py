"""``coffersim lab``: each grader passes on its reference solution and fails on its skeleton.

The reference solutions live here (``tests/labs/labN/``), never in a student's
tree; the skeleton is what ``coffersim lab start N DIR`` writes. Every case goes
through :func:`cofferos.cli.main`, as a student would, and reads its report.
Student code that raises, or does not import, is a failed check with its last
line, never a traceback; ``start`` never writes into a directory with work in it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.labs import LABS
from tests.support import needs_gcc

HERE = Path(__file__).parent
EXIT_USAGE, EXIT_FAILED = 2, 1
PREFIX = "coffersim: error: "


def _lab(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(["lab", *argv])
    except SystemExit as leaving:
        status = int(leaving.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _verdicts(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(("PASS", "FAIL"))]


def _clean(directory: Path) -> list[str]:
    """What is in ``directory`` (a check must leave no bytecode or build output there)."""
    return sorted(path.name for path in directory.iterdir())


@needs_gcc
@pytest.mark.parametrize("number", sorted(LABS))
def test_the_reference_solution_passes(number: int, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    shutil.copytree(HERE / f"lab{number}", work)
    before = _clean(work)
    status, out, err = _lab(["check", str(number), str(work)], capsys)
    verdicts = _verdicts(out)
    assert status == 0, out + err
    assert verdicts and all(line.startswith("PASS") for line in verdicts), out
    assert out.splitlines()[-1] == f"score: {len(verdicts)}/{len(verdicts)}"
    assert _clean(work) == before  # no __pycache__, no binaries in the student's tree


@needs_gcc
@pytest.mark.parametrize("number", sorted(LABS))
def test_the_untouched_skeleton_fails(number: int, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    status, out, _ = _lab(["start", str(number), str(work)], capsys)
    assert status == 0 and "README.md" in out
    assert (work / "README.md").read_text().startswith(f"# Lab {number}:")
    status, out, err = _lab(["check", str(number), str(work)], capsys)
    verdicts = _verdicts(out)
    assert status == EXIT_FAILED, out
    assert any(line.startswith("FAIL") for line in verdicts), out
    assert "Traceback" not in out + err


def test_the_references_are_not_in_the_skeletons() -> None:
    for number in LABS:
        skeleton = {path.name: path.read_bytes() for path in LABS[number].skeleton.iterdir()}
        for path in (HERE / f"lab{number}").iterdir():
            if path.suffix in (".py", ".c", ".txt", ".md", ".toml") and path.name in skeleton:
                if path.name not in ("slots.h", "measure.py"):
                    assert path.read_bytes() != skeleton[path.name], path


def test_start_twice_into_the_same_directory_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "lab1"
    assert _lab(["start", "1", str(work)], capsys)[0] == 0
    (work / "nproc.py").write_text("# my work\n")
    status, out, err = _lab(["start", "1", str(work)], capsys)
    assert status == EXIT_USAGE
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1 and "not empty" in err
    assert (work / "nproc.py").read_text() == "# my work\n"  # the work is left alone


@pytest.mark.parametrize(("argv", "message"), [
    (["start", "9", "DIR"], "no lab 9: choose 1 to 5"),
    (["check", "0", "DIR"], "no lab 0"),
    (["check", "x", "DIR"], "not a lab number: 'x'"),
    (["check", "1", "/nonexistent/lab"], "/nonexistent/lab: no such directory"),
    (["start", "1", "FILE"], "not a directory"),
    ([], "which action"),
])
def test_bad_input_is_one_error_line(argv: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    argv = [str(tmp_path / "dir") if a == "DIR" else str(afile) if a == "FILE" else a
            for a in argv]
    status, _, err = _lab(argv, capsys)
    assert status == EXIT_USAGE
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "dir").exists()


def test_list_names_every_lab(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _lab(["list"], capsys)
    assert status == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        [str(lab.number), lab.name] for lab in LABS.values()]


@needs_gcc
def test_student_code_that_raises_is_a_failed_check_with_its_last_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    shutil.copytree(HERE / "lab1", work)
    source = (work / "nproc.py").read_text()
    (work / "nproc.py").write_text(source.replace(
        "    return len(task.coffer.processes)",
        "    return len(task.coffer.processes) // 0"))
    status, out, err = _lab(["check", "1", str(work)], capsys)
    assert status == EXIT_FAILED
    assert "Traceback" not in out + err
    handler = next(line for line in out.splitlines() if "sys_nproc counts" in line)
    assert handler.startswith("FAIL") and "ZeroDivisionError" in handler
    assert "nproc.py:" in handler  # where in the student's file
    served = next(line for line in out.splitlines() if "a personality serves" in line)
    assert served.startswith("FAIL")


def test_a_module_that_does_not_import_fails_every_check_that_needs_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "counting.py").write_text("def broken(:\n")
    status, out, err = _lab(["check", "2", str(work)], capsys)
    assert status == EXIT_FAILED and "Traceback" not in out + err
    verdicts = _verdicts(out)
    assert verdicts and all("counting.py does not import: SyntaxError" in line
                            for line in verdicts), out


@needs_gcc
def test_counting_on_entry_instead_of_on_exit_fails(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A blocked wait4 enters twice and exit_group never returns: the grader tells."""
    work = tmp_path / "work"
    shutil.copytree(HERE / "lab2", work)
    source = (work / "counting.py").read_text()
    wrong = source.replace("    def on_exit(self, ctx: SyscallContext, result: int) -> int:\n",
                           "    def on_entry(self, ctx: SyscallContext) -> None:\n"
                           "        result = 0\n").replace("        return result\n",
                                                           "        return None\n")
    assert wrong != source
    (work / "counting.py").write_text(wrong)
    status, out, _ = _lab(["check", "2", str(work)], capsys)
    assert status == EXIT_FAILED
    assert "calls.wait4 is 2, the kernel served 1" in out


@needs_gcc
def test_the_report_docs_labs_md_quotes_is_what_check_prints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (HERE.parents[1] / "docs" / "labs.md").read_text()
    quoted = text.split("```text\n", 1)[1].split("```", 1)[0]
    _lab(["start", "1", str(tmp_path / "lab1")], capsys)
    _, out, _ = _lab(["check", "1", str(tmp_path / "lab1")], capsys)
    assert out == quoted
