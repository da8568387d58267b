"""docs/kernel.md's table of system calls is what the system call table binds."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.coffers.syscalls import FAMILIES, doc_table
from cofferos.coffers.syscalls.table import default_table

KERNEL_MD = Path(__file__).parent.parent / "docs" / "kernel.md"


def test_committed_table_is_what_the_generator_gives() -> None:
    committed = doc_table.committed(KERNEL_MD.read_text())
    assert committed == doc_table.render(), (
        "docs/kernel.md's system call table is stale; regenerate it with "
        f"`{doc_table.REGENERATE}` and commit the result")


def test_the_table_lists_every_implemented_call_once() -> None:
    block = doc_table.render()
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    listed = [word for row in rows for word in row.split("|")[2].split("(")[0].split()]
    assert sorted(listed) == sorted(default_table().implemented())
    assert f"{len(listed)} calls are implemented" in block


def test_every_family_names_its_linux_source() -> None:
    sources = doc_table.family_sources()
    assert sources["read_write"] == "fs/read_write.c"
    assert sources["nsproxy"] == "kernel/fork.c, kernel/nsproxy.c, kernel/sys.c"
    families = [module.__name__.rsplit(".", 1)[1] for module in FAMILIES]
    assert [name for name in families if not sources.get(name)] == []


def test_write_replaces_only_the_generated_block(tmp_path: Path) -> None:
    page = tmp_path / "kernel.md"
    page.write_text(f"# before\n{doc_table.BEGIN}\nold table\n{doc_table.END}\nafter\n")
    assert doc_table.main(["--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# before\n") and text.endswith(f"{doc_table.END}\nafter\n")
    assert "old table" not in text and doc_table.committed(text) == doc_table.render()


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BEGIN syscall-table"):
        doc_table.committed("# no table here\n")
