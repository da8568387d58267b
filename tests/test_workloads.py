"""Tests of the built-in workloads: they build, are cached, and behave natively as documented.

Every binary is run on this host, outside the simulator, so these tests also pin
down the reference output that simulated runs are compared with (the table of it:
:mod:`tests.workload_outputs`). All builds go to a temporary cache named by
``COFFERSIM_CACHE``.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import capstone
import pytest

from cofferos.errors import WorkloadError
from cofferos.workloads import (
    ALL_LIBCS,
    ASMLOOP_ITERATIONS,
    CACHE_ENV,
    GLIBC,
    GLIBC_PIE,
    MUSL,
    TOOLCHAINS,
    WORKLOADS,
    build,
    cache_dir,
    compilers_available,
    list_workloads,
    resolve,
)
from tests.rootfs import static_library_available
from tests.workload_outputs import EXPECTED_STATUS, EXPECTED_STDOUT, TCP_PAIR, TIMED

# The package re-exports the function ``build``, which hides the module of that name.
build_module = importlib.import_module("cofferos.workloads.build")

RUN_TIMEOUT_S = 60

BUILDS = [(w.name, libc) for w in list_workloads() if w.name not in TIMED for libc in w.libcs]


def _require(libc: str, name: str | None = None) -> None:
    compiler = TOOLCHAINS[libc].compiler
    if not compilers_available()[compiler]:
        pytest.skip(f"{compiler} is not installed")
    if name is not None and "-lsqlite3" in WORKLOADS[name].libs:
        if not static_library_available("sqlite3"):
            pytest.skip("libsqlite3.a is not installed (apt-get install libsqlite3-dev)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_tcp_pair(cwd: Path) -> tuple[subprocess.CompletedProcess[str], ...]:
    """tcpserver and tcpclient with their default arguments, except a free port."""
    server_args, client_args = (list(WORKLOADS[name].default_args) for name in TCP_PAIR)
    port = str(_free_port())
    server_args[0] = client_args[1] = port
    server = subprocess.Popen([str(build("tcpserver")), *server_args], cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = _run(build("tcpclient"), *client_args, cwd=cwd)
        out, err = server.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return subprocess.CompletedProcess(server.args, server.returncode, out, err), client


def _run(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(path), *args], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the whole session, so each binary is compiled once."""
    directory = tmp_path_factory.mktemp("workload-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(directory))
        yield directory


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for tests that count compilations."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


# --- the catalog --------------------------------------------------------------------------


def test_catalog_is_consistent() -> None:
    assert set(WORKLOADS) == set(EXPECTED_STDOUT) | set(TIMED)
    assert [w.name for w in list_workloads()] == list(WORKLOADS)
    for name, workload in WORKLOADS.items():
        assert workload.name == name
        assert (build_module.SOURCE_DIR / workload.source).is_file()
        assert set(workload.libcs) <= set(ALL_LIBCS)
        assert workload.description and "\n" not in workload.description


def test_asmloop_source_matches_the_catalog_formula() -> None:
    source = (build_module.SOURCE_DIR / WORKLOADS["asmloop"].source).read_text()
    match = re.search(r"#define ITERATIONS (\d+)", source)
    assert match is not None and int(match.group(1)) == ASMLOOP_ITERATIONS
    assert WORKLOADS["asmloop"].expected_instructions == 1 + 2 * ASMLOOP_ITERATIONS + 3


# --- building and running natively --------------------------------------------------------


@pytest.mark.parametrize(("name", "libc"), BUILDS)
def test_workload_builds_and_runs_natively(
    name: str, libc: str, shared_cache: Path, tmp_path: Path
) -> None:
    _require(libc, name)
    path = build(name, libc)
    assert path.parent == shared_cache and os.access(path, os.X_OK)

    if name in TCP_PAIR:
        result = _run_tcp_pair(tmp_path)[TCP_PAIR.index(name)]
    else:
        result = _run(path, cwd=tmp_path)
    assert result.returncode == EXPECTED_STATUS[name], result.stderr
    assert result.stdout.splitlines() == EXPECTED_STDOUT[name]
    assert list(tmp_path.iterdir()) == []  # fileio cleans up after itself


@pytest.mark.parametrize(
    "name", [w.name for w in list_workloads()
             if w.default_args and w.name not in TCP_PAIR and w.name not in TIMED]
)
def test_default_args_are_the_programs_own_defaults(
    name: str, shared_cache: Path, tmp_path: Path
) -> None:
    _require(GLIBC, name)
    path = build(name)
    with_defaults = _run(path, *WORKLOADS[name].default_args, cwd=tmp_path)
    assert with_defaults.stdout.splitlines() == EXPECTED_STDOUT[name]
    assert with_defaults.returncode == EXPECTED_STATUS[name]


@pytest.mark.parametrize(
    ("name", "args", "stdout_line", "status"),
    [
        ("hello", ("a", "b"), "argc=3", 0),
        ("compute", ("10",), "compute: 10 iterations, checksum ", 0),
        ("nullsys", ("7",), "nullsys: 7 getppid calls", 0),
        ("fileio", ("3",), "fileio: wrote 12288 bytes in 3 chunks of 4096", 0),
        ("metadata", ("shared", "3"), "metadata: 3 iterations of ", 0),
        ("metadata", ("shared", "none"), None, 2),
        ("memtouch", ("1",), "memtouch: 1 MiB malloc + 1 MiB mmap, 512 pages touched", 0),
        ("exitcode", ("42",), "exitcode: exiting with 42", 42),
        ("compute", ("many",), None, 2),
        ("threads", ("2", "10"), "threads: 2 workers x 10000 increments, counter 20000", 0),
        ("threads", ("0",), None, 2),
        ("forkexec", ("child", "5"), "line one from the exec'ed child", 5),
        ("forkexec", ("bogus",), None, 2),
        ("sqlite", ("x.db", "10"), "sqlite: inserted 10 rows in one transaction", 0),
        ("unixsock", ("3",), "unixsock: socketpair: 3 pings, 3 pongs, child status 0", 0),
        ("pipeline", ("2",), "pipeline: pipe b: 2 lines [b0 b1], hang-up seen yes", 0),
        ("tcpclient", ("127.0.0.1", "not-a-port"), None, 2),
        ("tcpserver", ("0",), None, 2),
        ("lmbench", ("null", "7"), "null 7 ", 0),
        ("lmbench", ("nope",), None, 2),
    ],
)
def test_workloads_take_their_argument(
    name: str,
    args: tuple[str, ...],
    stdout_line: str | None,
    status: int,
    shared_cache: Path,
    tmp_path: Path,
) -> None:
    _require(GLIBC, name)
    result = _run(build(name), *args, cwd=tmp_path)
    assert result.returncode == status
    if stdout_line is not None:
        assert any(line.startswith(stdout_line) for line in result.stdout.splitlines())


@pytest.mark.skipif(shutil.which("file") is None, reason="file(1) is not installed")
@pytest.mark.parametrize(
    ("name", "libc", "kind"),
    [
        ("hello", GLIBC, "statically linked"),
        ("asmloop", GLIBC, "statically linked"),
        ("hello", MUSL, "statically linked"),
        ("hello", GLIBC_PIE, "static-pie linked"),
        ("asmloop", GLIBC_PIE, "static-pie linked"),
        ("threads", GLIBC, "statically linked"),
        ("threads", MUSL, "statically linked"),
        ("sqlite", GLIBC, "statically linked"),
    ],
)
def test_executables_are_static(name: str, libc: str, kind: str, shared_cache: Path) -> None:
    _require(libc, name)
    description = subprocess.run(
        ["file", str(build(name, libc))], capture_output=True, text=True, check=True
    ).stdout
    assert kind in description and "x86-64" in description


def test_asmloop_executes_exactly_the_documented_instructions(shared_cache: Path) -> None:
    """Disassemble from the entry point: the loop shape proves the catalog's count."""
    image = build("asmloop").read_bytes()
    entry = struct.unpack_from("<Q", image, 0x18)[0]
    phoff, _, _, _, phentsize, phnum = struct.unpack_from("<QQIHHH", image, 0x20)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", image, phoff + i * phentsize
        )
        if p_type == 1 and p_vaddr <= entry < p_vaddr + p_filesz:  # PT_LOAD holding _start
            code = image[p_offset + entry - p_vaddr :]
            break
    else:
        pytest.fail("no loadable segment holds the entry point")

    disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    insns = list(disassembler.disasm(code[:32], entry))[:6]
    shape = [(insn.mnemonic, insn.op_str) for insn in insns]
    assert shape == [
        ("mov", f"ecx, {ASMLOOP_ITERATIONS:#x}"),
        ("dec", "ecx"),
        ("jne", f"{insns[1].address:#x}"),
        ("mov", "eax, 0x3c"),
        ("xor", "edi, edi"),
        ("syscall", ""),
    ]


# --- the cache ----------------------------------------------------------------------------


def test_second_build_reuses_the_cached_file(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build("hello")
    assert cache_dir() == private_cache and first.parent == private_cache
    stamp = first.stat().st_mtime_ns

    def no_compiling(*args: object) -> None:
        raise AssertionError("the compiler ran for a cached workload")

    monkeypatch.setattr(build_module, "_compile", no_compiling)
    second = build("hello")
    assert second == first and second.stat().st_mtime_ns == stamp
    assert resolve("@hello") == first
    assert [p.name for p in private_cache.iterdir()] == [first.name]  # no temporary left


def test_edited_source_gets_a_new_binary(
    private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = build("hello")
    sources = tmp_path / "src"
    shutil.copytree(build_module.SOURCE_DIR, sources)
    hello = sources / WORKLOADS["hello"].source
    hello.write_text(hello.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(build_module, "SOURCE_DIR", sources)
    assert build("hello") != original


def test_variants_are_cached_separately(shared_cache: Path) -> None:
    for libc in ALL_LIBCS:
        _require(libc)
    paths = {resolve(f"@hello:{libc}") for libc in ALL_LIBCS}
    assert len(paths) == len(ALL_LIBCS)
    assert resolve("@hello") == resolve("@hello:glibc") == build("hello")


# --- errors -------------------------------------------------------------------------------


def test_unknown_workload_lists_the_known_ones(private_cache: Path) -> None:
    with pytest.raises(WorkloadError, match="unknown workload 'nope'") as info:
        build("nope")
    assert all(name in str(info.value) for name in WORKLOADS)
    with pytest.raises(WorkloadError, match="unknown workload ''"):
        resolve("@")


def test_unknown_libc_lists_the_variants(private_cache: Path) -> None:
    with pytest.raises(WorkloadError, match="unknown libc variant 'uclibc'") as info:
        resolve("@hello:uclibc")
    assert all(libc in str(info.value) for libc in ALL_LIBCS)
    with pytest.raises(WorkloadError, match="unknown libc variant ''"):
        resolve("@hello:")


@pytest.mark.parametrize("spec", ["hello", "./hello", "", "hello:musl"])
def test_resolve_wants_an_at_sign(spec: str) -> None:
    with pytest.raises(WorkloadError, match="not a workload spec"):
        resolve(spec)


@pytest.mark.parametrize(
    ("libc", "message"),
    [
        (GLIBC, "gcc not found: install gcc (Debian: apt-get install gcc libc6-dev)"),
        (GLIBC_PIE, "gcc not found: install gcc"),
        (MUSL, "musl-gcc not found: apt-get install musl-tools"),
    ],
)
def test_missing_compiler_says_what_to_install(
    libc: str, message: str, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_module.shutil, "which", lambda _name: None)
    assert compilers_available() == {"gcc": False, "musl-gcc": False}
    with pytest.raises(WorkloadError) as info:
        build("hello", libc)
    assert str(info.value).startswith(message)


def test_compile_failure_quotes_the_compiler(
    private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / WORKLOADS["hello"].source).write_text("int main(void) { return missing; }\n")
    monkeypatch.setattr(build_module, "SOURCE_DIR", sources)
    with pytest.raises(WorkloadError, match="building 'hello' for glibc failed") as info:
        build("hello")
    assert "missing" in str(info.value)
    assert not private_cache.exists() or list(private_cache.iterdir()) == []


def test_unwritable_cache_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(WorkloadError, match="cannot write to the workload cache"):
        build("hello")
