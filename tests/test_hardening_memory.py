"""Host memory a guest cannot take (issue #13, item 2).

``hardening/hostmem.c`` makes the calls that once made the simulator allocate what
the guest asked for: a write from NULL of 2 GiB, files ftruncate'd to 1 GiB, a
2^28-byte read of /dev/urandom, 64 MiB through a pipe, 1 GiB offered to sockets
and to writev, a readv of /dev/zero into 2 GiB at NULL. Each must print what the
same binary prints natively, and the two first must leave the simulator's peak
memory (measured in a child process, whose children's ``ru_maxrss`` is its own)
far below the sizes the guest named. The disk quota defaults to what the host can
hold and ``--disk-limit`` changes it, for files with no name too (a memfd); a timed
run keeps a bounded part of each container's output; an engine reused for process
after process keeps no more translated code than one of them needs.
"""

from __future__ import annotations

import errno
import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.api import resolve_program
from cofferos.cli import main
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.config import host_disk_limit
from cofferos.coffers.fs import FsError
from cofferos.sim import experiment
from cofferos.sim.experiment import CappedOutput, run_containers
from tests.support import compile_guest, needs_gcc, run_native

GUESTS = Path(__file__).parent / "hardening"
GIB = 1 << 30
#: What the simulator itself may peak at around these guests: far below the 2 GiB
#: (one write) and 2 GiB (two 1 GiB files) the guests name.
PEAK_LIMIT_KIB = 800 * 1024
MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.fixture(scope="module")
def hostmem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_guest(GUESTS / "hostmem.c", tmp_path_factory.mktemp("hostmem"))


def _in_coffer(binary: Path, mode: str, **config: object) -> tuple[int, bytes]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp", **config),  # type: ignore[arg-type]
                    stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(binary), ["hostmem", mode], [])
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    return result.exit_code, out.getvalue()


@needs_gcc
@pytest.mark.parametrize("mode", ["nullwrite", "sparse", "urandom", "pipe", "socket",
                                  "readv", "procalloc", "sparseread", "sendfile"])
def test_guest_matches_native(hostmem: Path, mode: str, tmp_path: Path) -> None:
    native = run_native(hostmem, [mode], cwd=tmp_path)
    status, out = _in_coffer(hostmem, mode)
    assert native.status == 0
    assert out.decode() == native.stdout.decode()
    assert status == 0


@needs_gcc
@pytest.mark.parametrize("mode", ["nullwrite", "sparse", "socket", "readv", "procalloc",
                                  "sendfile"])
def test_the_simulator_does_not_allocate_what_the_guest_names(hostmem: Path, mode: str) -> None:
    peak = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "cofferos", "run",
         "--cwd", "/tmp", "--", str(hostmem), mode],
        capture_output=True, text=True, check=True).stdout
    assert int(peak) < PEAK_LIMIT_KIB


@needs_gcc
def test_mapping_a_sparse_6_gib_file_takes_the_host_what_is_touched(tmp_path: Path) -> None:
    """``shmem/sparse.c`` writes bytes at 0, 3 and 6 GiB of a file and maps it whole,
    shared, and 3 GiB of it private: the simulator's peak stays far below the sizes
    (file data is page-granular, mappings copy nothing, a hole is made present only
    where touched). Its output against native: tests/test_shmem.py."""
    binary = compile_guest(Path(__file__).parent / "shmem" / "sparse.c", tmp_path)
    peak = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "cofferos", "run",
         "--cwd", "/tmp", "--", str(binary)], capture_output=True, text=True, check=True).stdout
    assert int(peak) < PEAK_LIMIT_KIB


BIGMAP = """
import io, sys
from cofferos.coffers.coffer import Coffer, CofferConfig
out = io.BytesIO()
coffer = Coffer(CofferConfig(cwd="/tmp", memory_limit=int(sys.argv[2])), stdin=io.BytesIO(),
                stdout=out, stderr=io.BytesIO())
coffer.spawn(sys.argv[1], ["hostmem", "bigmap"], [])
result = coffer.run()
assert result.exit_code == 0 and not result.oopses, result.oopses
sys.stdout.write(out.getvalue().decode())
"""
#: The memory limit the bigmap guest runs under: its block account takes one 64 GiB
#: piece (1,024 blocks of BLOCK_HOST_BYTES), not two.
BIGMAP_LIMIT = 128 << 20
#: The simulator's peak around it: the 64 MiB base of a small guest and the limit.
BIGMAP_PEAK_KIB = 256 * 1024


@needs_gcc
def test_mapping_terabytes_of_holes_is_bounded_by_the_memory_limit(hostmem: Path) -> None:
    """Each 64 MiB guest block a mapping needs costs the host BLOCK_HOST_BYTES (its
    arrays, host file mapping and engine region), charged to an account as large as the
    memory limit, as a memory cgroup charges page tables: a guest mapping an 8 TiB
    sparse file 64 GiB at a time gets ENOMEM once the account is full (without it, the
    simulator grew by 1.1 MiB a GiB mapped, past any bound), and munmap gives it back."""
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-c", BIGMAP, str(hostmem),
         str(BIGMAP_LIMIT)], capture_output=True, text=True, check=True)
    peak = int(run.stdout.split()[-1])
    out = subprocess.run([sys.executable, "-c", BIGMAP, str(hostmem), str(BIGMAP_LIMIT)],
                         capture_output=True, text=True, check=True).stdout
    assert out == ("ftruncate 8 TiB: 0\nmap 1: -1 ENOMEM\nmapped: 64 GiB\n"
                   "map again: ok\n"), out
    assert peak < BIGMAP_PEAK_KIB


def test_guest_blocks_are_charged_to_their_own_account_and_given_back() -> None:
    """Blocks are charged to Coffer.block_space, not to the memory figures the guest
    reads; a map past it is ENOMEM; unmapping and release give the charge back."""
    from cofferos.coffers.mm import MmError
    from cofferos.isa.blockmap import BLOCK_HOST_BYTES, BLOCK_SIZE

    coffer = Coffer(CofferConfig(memory_limit=64 << 20), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    memory, blocks = coffer.memory.used_bytes, coffer.block_space.used_bytes
    _cpu, space = coffer.new_cpu()
    fit = coffer.block_space.limit_bytes // BLOCK_HOST_BYTES
    space.map_fixed(BLOCK_SIZE, fit * BLOCK_SIZE, 0, inherit=True)  # PROT_NONE, no pages
    assert coffer.block_space.used_bytes - blocks == fit * BLOCK_HOST_BYTES
    with pytest.raises(MmError) as err:
        space.map_fixed((fit + 2) * BLOCK_SIZE, BLOCK_SIZE, 0, inherit=True)
    assert err.value.errno == errno.ENOMEM
    space.unmap(BLOCK_SIZE, BLOCK_SIZE)
    space.map_fixed((fit + 2) * BLOCK_SIZE, BLOCK_SIZE, 0, inherit=True)  # room again
    space.release()
    _cpu.reset()
    assert coffer.block_space.used_bytes == blocks
    assert coffer.memory.used_bytes == memory


#: What one sleeping process may cost the host: its engine measures 0.88 MB with
#: transparent huge pages off and 2.87 MB with them (isa/cpu.py, _no_huge_pages).
PER_PROCESS_LIMIT_KIB = 1536
FEW, MANY = 10, 110


@needs_gcc
def test_a_sleeping_process_costs_the_host_under_a_megabyte_and_a_half(
        tmp_path: Path) -> None:
    sleepers = compile_guest(GUESTS / "sleepers.c", tmp_path)
    peaks = {}
    for count in (FEW, MANY):
        run = subprocess.run(
            [sys.executable, "-c", MEASURE, sys.executable, "-m", "cofferos", "run",
             "--", str(sleepers), str(count)], capture_output=True, text=True, check=True)
        peaks[count] = int(run.stdout)
    per_process = (peaks[MANY] - peaks[FEW]) / (MANY - FEW)
    assert 0 < per_process < PER_PROCESS_LIMIT_KIB, peaks


#: Run forkseq in a coffer in a fresh interpreter, then print the kilobytes resident in
#: its engines' translation buffers: the host's anonymous executable mappings of a
#: megabyte or more (Unicorn maps each engine's buffer read-write-execute).
CODE_HELD = """
import io, sys
from cofferos.api import run_program
out = io.BytesIO()
result = run_program(sys.argv[1], [sys.argv[2]], stdout=out)
assert result.exit_code == 0 and not result.oopses
assert out.getvalue().split() == [b"done", sys.argv[2].encode()]  # as natively
held = counted = 0
for line in open("/proc/self/smaps"):
    fields = line.split()
    if fields[0] == "Rss:":
        held += int(fields[1]) if counted else 0
    elif "-" in fields[0] and len(fields) >= 5:
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        counted = fields[1] == "rwxp" and len(fields) == 5 and high - low >= 1 << 20
print(held)
"""


@needs_gcc
def test_translated_code_does_not_grow_with_the_children_an_engine_ran(
        tmp_path: Path) -> None:
    """A pooled engine is wiped for each child; what it translated for the children
    before must go too (isa/cpu.py, Cpu.reset): it kept about 15 KB per child."""
    forkseq = compile_guest(GUESTS / "forkseq.c", tmp_path)
    assert run_native(forkseq, [str(MANY)]).stdout == f"done {MANY}\n".encode()
    held = {count: int(subprocess.run(
        [sys.executable, "-c", CODE_HELD, str(forkseq), str(count)],
        capture_output=True, text=True, check=True).stdout) for count in (FEW, MANY)}
    assert 0 < held[MANY] <= held[FEW], held


def test_the_default_disk_quota_is_what_the_host_can_hold() -> None:
    limit = CofferConfig().disk_limit
    assert limit == host_disk_limit()
    physical = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            physical = int(line.split()[1]) * 1024
    assert GIB <= limit <= max(physical, GIB)


@needs_gcc
def test_disk_limit_on_the_command_line(hostmem: Path,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cwd", "/tmp", "--disk-limit", "2M", "--", str(hostmem), "fill"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("fill: wrote ") and out.endswith(", then ENOSPC\n")
    assert int(out.split()[2].rstrip(",")) < 2 << 20


@needs_gcc
def test_a_file_with_no_name_is_charged_to_the_disk_quota(hostmem: Path) -> None:
    """A byte written at offset 10^9 of a memfd or an unlinked file is charged to the
    quota like any file, where it once was charged to none (``coffersim fuzz --seed 2``
    peaked at 1 GiB, when holes were zeros in memory). File data is page-granular
    now: as on Linux's tmpfs, the byte holds one page, so a 2 MiB quota (the program
    copied in takes about 0.9 MiB of it) takes both, and the host keeps its memory.
    The quota refusing what does not fit: ``fill`` above, tests/test_sparse_files.py."""
    run = subprocess.run(
        [sys.executable, "-c", MEASURE.replace("stdout=subprocess.DEVNULL", "stdout=2"),
         sys.executable, "-m", "cofferos", "run", "--cwd", "/tmp", "--disk-limit", "2M",
         "--", str(hostmem), "noname"], capture_output=True, text=True, check=True)
    assert run.stderr.splitlines() == [f"noname {i}: pwrite at 1e9 1" for i in (0, 1)]
    assert int(run.stdout) < PEAK_LIMIT_KIB


def test_a_nameless_file_gives_its_bytes_back_with_its_last_user() -> None:
    from cofferos.coffers.fs import FileSystem
    from cofferos.coffers.mm import MemoryAccount

    fs = FileSystem()
    fs.sb.space = MemoryAccount(1 << 20)
    inode = fs.sb.new_inode(stat.S_IFREG | 0o600)
    inode.nlink = 0  # as memfd_create makes it
    assert inode.write(1000, b"x") == 1
    assert fs.sb.space.used_bytes == 1001
    with pytest.raises(FsError) as info:
        inode.write(1 << 20, b"x")
    assert info.value.errno == errno.ENOSPC
    del inode, info  # its last user (the error's traceback held it too)
    assert fs.sb.space.used_bytes == 0


def test_a_bad_disk_limit_is_one_usage_line(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["run", "--disk-limit", "lots", "--", "/bin/true"])
    assert leaving.value.code == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "coffersim: error: argument --disk-limit" in err


def test_capped_output_keeps_the_first_bytes_and_counts_the_rest() -> None:
    sink = CappedOutput(limit=5)
    assert sink.write(b"hello, world") == 12
    assert sink.write(b"!") == 1
    assert sink.getvalue() == b"hello" and sink.dropped == 8


def test_a_timed_run_keeps_a_bounded_part_of_each_output(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(experiment, "OUTPUT_LIMIT", 4)
    report = run_containers(resolve_program("@hello"), containers=2, cores=1)
    for container in report.containers:
        assert len(container.stdout) == 4 and container.output_dropped > 0
    stats = tmp_path / "stats.json"
    assert main(["run", "--containers", "2", "--stats", str(stats), "--", "@hello"]) == 0
    captured = capfd.readouterr()
    assert len(captured.out) == 4
    assert "c0:" in captured.err and "were dropped" in captured.err
    record = json.loads(stats.read_text())
    assert all(c["output_dropped"] > 0 for c in record["per_container"])


def test_each_address_space_is_charged_what_its_engine_holds_of_the_host() -> None:
    """The memory limit bounds what a coffer's processes hold of the host, asleep or not:
    each address space is charged its engine, and gives the charge back when it ends."""
    from cofferos.coffers.mm import ENGINE_BYTES

    coffer = Coffer(CofferConfig(memory_limit=4 * ENGINE_BYTES), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    before = coffer.memory.used_bytes
    spaces = [coffer.new_cpu()[1] for _ in range(3)]
    assert coffer.memory.used_bytes - before == 3 * ENGINE_BYTES
    assert not coffer.memory.fits(ENGINE_BYTES + 1)  # a fourth engine and a byte: ENOMEM
    for space in spaces:
        space.release()
    assert coffer.memory.used_bytes == before
