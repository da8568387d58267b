"""A program started from the host shows no more of the host's directories than the
user typed (issue #13, item 6).

/proc/self/cmdline is argv as passed, as on Linux. /proc/self/exe, the names in
/proc/self/maps and AT_EXECFN show the program's path inside the coffer: its own
file when an absolute argv[0] names one, an absolute argv[0] as given, else
/<basename of argv[0]>; never the host directory a program (or a built-in
workload in the host's cache) was read from.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "hardening"


@pytest.fixture(scope="module")
def hidden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """showself, built in a host directory whose name must not leak."""
    where = tmp_path_factory.mktemp("host-only-directory")
    return compile_guest(GUESTS / "showself.c", where)


def _run(program: Path, argv0: str) -> str:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(program), [argv0, "x"], [])
    assert coffer.run().exit_code == 0
    return out.getvalue().decode()


MAPS_LINE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+ +(\S+)$")


def _named_mappings(text: str) -> set[str]:
    """The names of the /proc/self/maps lines the guest printed."""
    return {match[1] for match in map(MAPS_LINE.match, text.splitlines()) if match}


@needs_gcc
@pytest.mark.parametrize(("argv0", "where"), [("showself", "/showself"),
                                               ("./bin/showself", "/bin/showself")])
def test_a_relative_argv0_shows_a_coffer_path(hidden: Path, argv0: str, where: str) -> None:
    """Relative to the coffer's working directory (/), where the program is linked so
    that re-executing argv[0] finds it."""
    text = _run(hidden, argv0)
    assert "host-only-directory" not in text
    assert f"cmdline: {argv0} x \n" in text  # argv as passed
    assert f"exe: {where}\n" in text
    assert _named_mappings(text) == {where, "[heap]", "[stack]"}


@needs_gcc
def test_an_absolute_argv0_shows_only_what_the_user_typed(hidden: Path) -> None:
    text = _run(hidden, "/opt/tools/showself")
    assert "host-only-directory" not in text
    assert "exe: /opt/tools/showself\n" in text
    assert _named_mappings(text) == {"/opt/tools/showself", "[heap]", "[stack]"}
