"""Programs are found where a container finds them, and their interpreters too.

* Without ``--rootfs``, a program started from the host is linked (immutable) at
  the path it was started by, alone in its directory, so re-executing ``argv[0]``
  or ``/proc/self/exe`` works: ``tests/dynlink/reexec.c`` prints the same in a
  coffer as natively.
* With ``--rootfs``, the program (a path, or a bare name through PATH) is the
  tree's, never the host's; what cannot be found or run is one line of error.
* A dynamically linked program whose interpreter is missing, or not an ELF, fails
  execve inside the guest with ENOENT or ELIBBAD, before the point of no return
  (the shell that tried goes on), and ``coffersim run`` says what is missing.
"""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs import FsError
from cofferos.coffers.fs.permission import MAY_WRITE, inode_permission
from cofferos.isa.elf import read_elf
from tests.rootfs import busybox_rootfs, run_busybox_in_coffer
from tests.support import compile_guest, needs_gcc, run_native

GUESTS = Path(__file__).parent / "dynlink"
#: A dynamically linked program of this machine (skipped where /bin/true is static).
DYNAMIC_TRUE = Path("/bin/true")


@pytest.fixture(scope="module")
def reexec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("reexec-build")
    (where / "neighbour.txt").write_text("a host file next to the program\n")
    return compile_guest(GUESTS / "reexec.c", where)


def _coffer(**config: object) -> tuple[Coffer, io.BytesIO, io.BytesIO]:
    out, err = io.BytesIO(), io.BytesIO()
    coffer = Coffer(CofferConfig(**config), stdin=io.BytesIO(),  # type: ignore[arg-type]
                    stdout=out, stderr=err)
    return coffer, out, err


@needs_gcc
@pytest.mark.parametrize("relative", [False, True])
def test_a_host_program_re_executes_itself(reexec: Path, relative: bool) -> None:
    argv0 = "./reexec" if relative else str(reexec)
    native = run_native(reexec, cwd=reexec.parent, argv0=argv0)
    coffer, out, _err = _coffer()  # cwd /: ./reexec is /reexec
    coffer.spawn(str(reexec), [argv0], [])
    result = coffer.run()
    assert out.getvalue().decode() == native.stdout.decode()
    assert b"child exited 42" in native.stdout and result.exit_code == native.status == 0
    # Only the program is shown, not the other files of its host directory.
    where = Path("/reexec" if relative else str(reexec))
    names = [name for name, _inode in
             coffer.fs.lookup(str(where.parent), coffer.fs.root).entries()]
    assert "reexec" in names and "neighbour.txt" not in names
    if not relative:
        assert names == ["reexec"]


@needs_gcc
@pytest.mark.parametrize(("argv0", "where"), [("reexec", "/reexec"),
                                              ("./reexec", "/tmp/reexec")])
def test_a_relative_path_is_from_the_working_directory_a_bare_name_from_the_root(
        reexec: Path, argv0: str, where: str) -> None:
    """A bare name is found through PATH natively, not in the working directory, so it
    is not put there (a program listing its /tmp would see itself)."""
    coffer, _out, _err = _coffer(cwd="/tmp")
    coffer.spawn(str(reexec), [argv0], [])
    assert coffer.fs.lookup(where, coffer.fs.root).immutable
    names = [name for name, _inode in coffer.fs.lookup("/tmp", coffer.fs.root).entries()]
    assert ("reexec" in names) == (where == "/tmp/reexec")
    assert coffer.run().exit_code == 0


@needs_gcc
def test_the_shown_program_is_read_only_even_for_root(reexec: Path) -> None:
    coffer, _out, _err = _coffer()
    coffer.spawn(str(reexec), [str(reexec)], [])
    inode = coffer.fs.lookup(str(reexec), coffer.fs.root)
    with pytest.raises(FsError) as info:
        inode_permission(inode, coffer.init.creds if coffer.init else None, MAY_WRITE)
    assert info.value.errno == errno.EPERM
    assert coffer.run().exit_code == 0
    assert reexec.read_bytes()[:4] == b"\x7fELF"


@needs_gcc
def test_a_taken_path_is_not_replaced(reexec: Path) -> None:
    """argv[0] names a file the coffer has: that file stays; the program runs anyway."""
    coffer, _out, _err = _coffer()
    before = coffer.fs.lookup("/etc/passwd", coffer.fs.root)
    coffer.spawn(str(reexec), ["/etc/passwd"], [])
    assert coffer.fs.lookup("/etc/passwd", coffer.fs.root) is before
    assert coffer.run().exit_code == 0


# -- --rootfs: the program is the tree's -----------------------------------------------------


def test_rootfs_programs_and_bare_names_come_from_the_tree(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = busybox_rootfs(tmp_path)
    assert main(["run", "--rootfs", str(root), "--", "/bin/sh", "-c", "echo in the tree"]) == 0
    assert capfd.readouterr().out == "in the tree\n"
    assert main(["run", "--rootfs", str(root), "--", "sh", "-c", "echo $0"]) == 0  # via PATH
    assert capfd.readouterr().out == "sh\n"


def test_the_timing_machine_and_compare_find_rootfs_programs_in_the_tree(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = busybox_rootfs(tmp_path)
    assert main(["run", "--rootfs", str(root), "--cores", "1", "--",
                 "sh", "-c", "echo timed"]) == 0
    assert capfd.readouterr().out == "timed\n"
    assert main(["compare", "--rootfs", str(root), "--kernels", "linux", "--containers", "1",
                 "--cores", "1", "--json", "--out", str(tmp_path / "out"), "--",
                 "sh", "-c", "true"]) == 0
    assert '"kernel": "linux"' in capfd.readouterr().out


def test_rootfs_scripts_run_through_their_interpreter(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A container's entry point is often a script: run as execve runs it."""
    root = busybox_rootfs(tmp_path)
    script = root / "bin" / "entry.sh"
    script.write_text('#!/bin/sh -e\necho "script $0 got $1"\nexit 5\n')
    script.chmod(0o755)
    assert main(["run", "--rootfs", str(root), "--", "/bin/entry.sh", "arg"]) == 5
    assert capfd.readouterr().out == "script /bin/entry.sh got arg\n"
    # Through PATH: its first directory that holds it, usr/sbin (a link to bin here).
    assert main(["run", "--rootfs", str(root), "--", "entry.sh", "arg"]) == 5
    assert capfd.readouterr().out == "script /usr/sbin/entry.sh got arg\n"
    script.write_text("#!\n")
    assert main(["run", "--rootfs", str(root), "--", "/bin/entry.sh"]) == 2
    assert "/bin/entry.sh: Exec format error (an empty #! line)" in capfd.readouterr().err


@pytest.mark.parametrize(("program", "message"), [
    ("/usr/local/bin/nothing", "/usr/local/bin/nothing: no such file in the coffer's filesystem"),
    ("nothing", "nothing: no such file in the coffer's filesystem (--rootfs ROOT) "
                "(looked up through PATH)"),
    ("/etc/passwd", "/etc/passwd: not executable (mode -rw-r--r--) in the coffer's"),
    ("/etc", "/etc: is a directory in the coffer's filesystem"),
])
def test_rootfs_lookup_errors_are_one_line(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], program: str, message: str) -> None:
    root = busybox_rootfs(tmp_path)
    assert main(["run", "--rootfs", str(root), "--", program]) == 2
    err = capfd.readouterr().err
    assert err.startswith("coffersim: error: ") and len(err.strip().splitlines()) == 1
    assert message.replace("ROOT", str(root)) in err


def test_rootfs_does_not_fall_back_to_the_host(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """/bin/busybox exists on the host but not in this tree: not found."""
    root = tmp_path / "empty"
    root.mkdir()
    assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", "true"]) == 2
    assert "no such file in the coffer's filesystem" in capfd.readouterr().err


# -- interpreters --------------------------------------------------------------------------


def _dynamic_true() -> Path:
    if not DYNAMIC_TRUE.is_file() or read_elf(str(DYNAMIC_TRUE)).interp is None:
        pytest.skip("no dynamically linked /bin/true here")
    return DYNAMIC_TRUE


def _interp_past_user_space() -> bytes:
    """An x86-64 ET_DYN whose one segment lies past user space: Linux finds that
    only in load_elf_interp, after the point of no return."""
    from tests.test_loader import one_load

    data = bytearray(one_load(vaddr=(1 << 47) - 0x1000, memsz=0x2000))
    data[16] = 3  # e_type ET_DYN (little-endian low byte)
    return bytes(data)


@pytest.mark.parametrize(("ld_so", "status", "why"), [
    (None, 127, "not found"),  # ENOENT: busybox's sh says "not found"
    (b"not an ELF at all\n" * 8, 126, "Accessing a corrupted shared library"),  # ELIBBAD
    (b"short\n", 126, "Input/output error"),  # EIO: shorter than an ELF header, as elf_read finds
])
def test_execve_of_a_program_without_its_interpreter_fails_before_the_point_of_no_return(
        tmp_path: Path, ld_so: bytes | None, status: int, why: str) -> None:
    program = _dynamic_true()
    root = busybox_rootfs(tmp_path)
    shutil.copy2(program, root / "bin" / "dyntrue")
    interp = read_elf(str(program)).interp
    assert interp is not None
    if ld_so is not None:
        target = root / interp.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ld_so)
        target.chmod(0o755)
    outcome = run_busybox_in_coffer("/bin/dyntrue; echo status $?", root=root)
    assert outcome.stdout == f"status {status}\n".encode()  # the shell lived on
    assert why in outcome.stderr.decode()


def test_an_interpreter_that_cannot_be_mapped_kills_the_process(tmp_path: Path) -> None:
    """Past the point of no return, as in Linux: SIGSEGV, the shell reports 139."""
    program = _dynamic_true()
    root = busybox_rootfs(tmp_path)
    shutil.copy2(program, root / "bin" / "dyntrue")
    interp = read_elf(str(program)).interp
    assert interp is not None
    target = root / interp.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_interp_past_user_space())
    target.chmod(0o755)
    outcome = run_busybox_in_coffer("/bin/dyntrue; echo status $?", root=root)
    assert outcome.stdout == b"status 139\n"


MUSL_LOADER = Path("/lib/ld-musl-x86_64.so.1")
MUSL_GUEST = ('#include <stdio.h>\n'
              'int main(int c, char **v) { printf("%d %s\\n", c, v[0]); return 4; }\n')


@pytest.mark.skipif(shutil.which("musl-gcc") is None or not MUSL_LOADER.exists(),
                    reason="needs musl-tools")
def test_a_minimal_tree_with_musls_loader_runs_a_dynamic_program(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Two files, the program and musl's libc.so as its interpreter: the interpreter
    and libc come from the tree given to --rootfs, not from the host."""
    source, built = tmp_path / "m.c", tmp_path / "m"
    source.write_text(MUSL_GUEST)
    subprocess.run(["musl-gcc", "-O1", "-o", str(built), str(source)], check=True,
                   capture_output=True)
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "bin").mkdir()
    shutil.copy2(MUSL_LOADER.resolve(), root / "lib" / MUSL_LOADER.name)
    shutil.copy2(built, root / "bin" / "m")
    native = subprocess.run(["/bin/m", "x"], executable=str(built), capture_output=True)
    assert main(["run", "--rootfs", str(root), "--", "/bin/m", "x"]) == native.returncode == 4
    assert capfd.readouterr().out == native.stdout.decode() == "2 /bin/m\n"
    (root / "lib" / MUSL_LOADER.name).unlink()  # without it: one line naming it
    assert main(["run", "--rootfs", str(root), "--", "/bin/m"]) == 2
    assert f"its program interpreter {MUSL_LOADER} is not in the coffer's filesystem" in (
        capfd.readouterr().err)


def test_run_names_the_missing_interpreter(capfd: pytest.CaptureFixture[str]) -> None:
    program = _dynamic_true()
    interp = read_elf(str(program)).interp
    assert main(["run", "--", str(program)]) == 2
    err = capfd.readouterr().err.strip()
    assert err == (f"coffersim: error: {program}: dynamically linked: its program interpreter "
                   f"{interp} is not in the coffer's filesystem (give --rootfs a tree that "
                   f"holds it)")
