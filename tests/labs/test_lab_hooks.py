"""What the labs need of the kernel, tested on its own: a new call in a table, published
personality counters, and a student's C file built with the workloads' toolchain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cofferos.coffers.syscalls.table import TABLE_SIZE, default_table
from cofferos.labs.grader import run_guest
from cofferos.personalities.base import RESERVED_FIRST, RESERVED_LAST, Personality
from cofferos.workloads.build import build_source
from tests.support import needs_gcc

GUEST = """#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long answer = syscall(%d, 5);
    printf("answer %%ld\\n", answer);
    return 0;
}
"""


def test_a_table_takes_a_new_call_only_in_the_reserved_range() -> None:
    table = default_table()
    assert TABLE_SIZE == RESERVED_LAST + 1
    table.add("mine", lambda task, value: value, "int", nr=RESERVED_FIRST + 7)
    entry = table.lookup(RESERVED_FIRST + 7)
    assert entry is not None and entry.name == "mine" and entry.args == ("int",)
    with pytest.raises(ValueError, match="from 1000 to 1099, not 999"):
        table.add("other", lambda task: 0, nr=RESERVED_FIRST - 1)
    with pytest.raises(ValueError, match="x86-64 system call already"):
        table.add("getpid", lambda task: 0, nr=RESERVED_FIRST + 8)
    with pytest.raises(ValueError, match="registered twice"):
        table.add("again", lambda task: 0, nr=RESERVED_FIRST + 7)


@needs_gcc
def test_a_guest_reaches_a_call_added_to_its_coffers_table(tmp_path: Path) -> None:
    number = RESERVED_FIRST + 42
    source = tmp_path / "ask.c"
    source.write_text(GUEST % number)
    guest = build_source(source)
    table = default_table()
    table.add("double", lambda task, value: 2 * value, "int", nr=number)
    assert run_guest(guest, table=table)[1] == "answer 10\n"
    assert run_guest(guest)[1] == "answer -1\n"  # no such call: ENOSYS, -1 from syscall(2)


class _Tally(Personality):
    name = "tally"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen = 0

    def on_exit(self, ctx: Any, result: int) -> int:
        self.seen += 1
        return result

    def counters(self) -> dict[str, int | float]:
        return {"seen": self.seen}


@needs_gcc
def test_personality_counters_are_published_in_the_run_result(tmp_path: Path) -> None:
    source = tmp_path / "ask.c"
    source.write_text(GUEST % RESERVED_FIRST)
    guest = build_source(source)
    result, _ = run_guest(guest, personalities=[_Tally(), Personality()])
    assert result.personality_counters["tally"]["seen"] > 0
    assert result.personality_counters["Personality"] == {}  # the default: none
    assert run_guest(guest)[0].personality_counters == {}


@needs_gcc
def test_a_header_beside_the_source_is_part_of_the_build(tmp_path: Path) -> None:
    source = tmp_path / "main.c"
    source.write_text('#include "value.h"\nint main(void) { return VALUE; }\n')
    (tmp_path / "value.h").write_text("#define VALUE 3\n")
    first = build_source(source)
    assert run_guest(first)[0].exit_code == 3
    (tmp_path / "value.h").write_text("#define VALUE 4\n")
    second = build_source(source)
    assert second != first and run_guest(second)[0].exit_code == 4


@needs_gcc
def test_a_source_that_does_not_compile_is_a_workload_error(tmp_path: Path) -> None:
    from cofferos.errors import WorkloadError

    source = tmp_path / "bad.c"
    source.write_text("int main(void) { return undefined_name; }\n")
    with pytest.raises(WorkloadError, match="undefined_name"):
        build_source(source)
