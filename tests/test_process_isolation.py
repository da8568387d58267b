"""Isolation between coffers running real programs: pids, files, /proc, signals, limits.

Each coffer runs busybox scripts on the same host rootfs (imported copy-on-write);
what one does must be invisible to the other, and nothing one does may stop the
other. (Split from test_process_model.py, which compares coffers with native runs.)
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.rootfs import (
    BUSYBOX,
    COFFER_CWD,
    INSTRUCTION_LIMIT,
    busybox_rootfs,
    run_busybox_in_coffer,
)

pytestmark = pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return busybox_rootfs(tmp_path)


ScriptRun = tuple[Coffer, io.BytesIO, io.BytesIO]


def _coffer_with_script(root: Path, script: str, **config: object) -> ScriptRun:
    """A coffer on ``root`` with ``/bin/sh -c script`` spawned, not yet run; its stdout, stderr."""
    out, err = io.BytesIO(), io.BytesIO()
    coffer = Coffer(CofferConfig(rootfs=str(root), cwd=COFFER_CWD,  # type: ignore[arg-type]
                                 instruction_limit=INSTRUCTION_LIMIT, **config),
                    stdin=io.BytesIO(), stdout=out, stderr=err)
    coffer.spawn(str(root / "bin" / "busybox"), ["/bin/sh", "-c", script])
    return coffer, out, err


def test_each_coffer_numbers_its_own_pids_and_keeps_its_own_files(rootfs: Path) -> None:
    """Two coffers on one host rootfs: both shells are pid 1, and writes stay private."""
    writer, writer_out, writer_err = _coffer_with_script(
        rootfs, 'echo "pid $$ ppid $PPID"; hostname; echo secret > /tmp/a.txt; ls /tmp',
        name="a", hostname="alpha")
    reader, reader_out, reader_err = _coffer_with_script(
        rootfs, 'echo "pid $$ ppid $PPID"; hostname; ls /tmp; cat /tmp/a.txt',
        name="b", hostname="beta")
    assert writer.run().exit_code == 0, writer_err.getvalue()
    assert writer_out.getvalue() == b"pid 1 ppid 0\nalpha\na.txt\n"
    assert reader.run().exit_code == 1
    assert reader_out.getvalue() == b"pid 1 ppid 0\nbeta\n"
    assert reader_err.getvalue() == b"cat: can't open '/tmp/a.txt': No such file or directory\n"
    assert list((rootfs / "tmp").iterdir()) == []  # the host directory is never written


def test_proc_self_exe_names_the_program_inside_the_coffer(rootfs: Path) -> None:
    """Symlinks resolved: started as /bin/sh, the shell's exe is the coffer's /bin/busybox."""
    script = ("readlink /proc/self/exe; readlink /proc/$$/exe; ls -d /proc/self; "
              "test -d /proc/$$ && echo own pid dir; test -e /proc/999 || echo no pid 999")
    coffer = run_busybox_in_coffer(script, root=rootfs)
    assert coffer.stdout == (b"/bin/busybox\n/bin/busybox\n/proc/self\nown pid dir\n"
                             b"no pid 999\n"), coffer.stderr
    assert coffer.status == 0


def test_coffers_running_together_see_only_their_own_processes(rootfs: Path) -> None:
    """While both run, each one's /proc lists its own background sleep and not the other's."""
    from cofferos.coffers.functional_machine import run_coffers

    # "sleep 2.11" is built at run time so that only the sleep's own cmdline contains it.
    script = ("s=2; sleep $s.{fraction} & sleep 0.5; "
              "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done; kill $!")
    naps = {"a": "2.11", "b": "2.22"}
    runs = {name: _coffer_with_script(rootfs, script.format(fraction=nap[2:]), name=name)
            for name, nap in naps.items()}
    run_coffers([coffer for coffer, _, _ in runs.values()])
    for name, (coffer, out, err) in runs.items():
        listing = out.getvalue().decode()
        theirs = naps["b" if name == "a" else "a"]
        assert f"sleep {naps[name]}" in listing, (name, listing, err.getvalue())
        assert f"sleep {theirs}" not in listing, (name, listing)
        assert "/bin/sh -c" in listing, (name, listing)
        assert coffer.result().exit_code == 0, (name, err.getvalue())


def test_signals_never_cross_coffers(rootfs: Path) -> None:
    """Coffer a has pids 2, 3...; from coffer b, kill of those pids is ESRCH, and a lives on."""
    from cofferos.coffers.functional_machine import run_coffers

    victim, victim_out, _ = _coffer_with_script(
        rootfs, "sleep 1 & sleep 1 & wait; echo survived", name="a")
    killer, killer_out, killer_err = _coffer_with_script(
        rootfs, "sleep 0.1; for p in 2 3; do kill -9 $p; echo \"kill $p: $?\"; done",
        name="b")
    run_coffers([victim, killer])
    assert killer_out.getvalue() == b"kill 2: 1\nkill 3: 1\n"
    assert b"No such process" in killer_err.getvalue()
    assert victim_out.getvalue() == b"survived\n"


def test_a_fork_bomb_next_door_does_not_stop_another_coffer(rootfs: Path) -> None:
    """One coffer exhausts its process limit while another runs a pipeline to completion."""
    from cofferos.coffers.functional_machine import run_coffers

    bomb, _, bomb_err = _coffer_with_script(
        rootfs, "i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done; echo done",
        name="bomb", nproc_limit=30)
    worker, worker_out, _ = _coffer_with_script(
        rootfs, "seq 1 2000 | sort -rn | head -n 2", name="worker")
    results = run_coffers([bomb, worker])
    assert b"can't fork" in bomb_err.getvalue()
    assert worker_out.getvalue() == b"2000\n1999\n"
    assert results[1].exit_code == 0
