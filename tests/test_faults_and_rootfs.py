"""Guest faults end the guest with the right signal; --rootfs is copy-on-write and confined."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.fs.defaults import PASSWD
from tests.support import needs, run_in_coffer, run_native

BUSYBOX = Path("/bin/busybox")

FAULTS = {
    "sigill": ("int main(void) { __builtin_trap(); }", 128 + 4),
    "sigfpe": ("volatile int zero = 0;\n"
               "int main(void) { return 10 / zero; }", 128 + 8),
    "sigsegv_exec": ("int main(void) { void (*f)(void) = (void (*)(void))0x1000; f(); }",
                     128 + 11),
    "sigsegv_readonly": ("#include <sys/mman.h>\n"
                         "int main(void) { char *p = mmap(0, 4096, PROT_READ | PROT_WRITE,"
                         " MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); p[0] = 1;"
                         " mprotect(p, 4096, PROT_READ); p[1] = 2; return 0; }", 128 + 11),
    "sigsegv_rodata": ("int main(void) { char *s = (char *)\"literal\"; s[0] = 'L';"
                       " return s[0]; }", 128 + 11),
}

EFAULT_PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
int main(void) {
    long r = write(1, (const void *)16, 10);
    int e = errno;
    struct stat st;
    int s = stat((const char *)16, &st);
    int e2 = errno;
    int s2 = stat("/", (struct stat *)16);
    int e3 = errno;
    printf("%ld %s %d %s %d %s\n", r, strerror(e), s, strerror(e2), s2, strerror(e3));
    return 0;
}
"""


def _compile(tmp_path: Path, name: str, source: str) -> Path:
    src, exe = tmp_path / f"{name}.c", tmp_path / name
    src.write_text(source)
    subprocess.run(["gcc", "-static", "-O0", "-o", str(exe), str(src)], check=True)
    return exe


@needs("gcc")
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_ends_guest_with_signal_like_native(tmp_path: Path, name: str) -> None:
    source, status = FAULTS[name]
    program = _compile(tmp_path, name, source)
    native = run_native(program, cwd=tmp_path)
    coffer = run_in_coffer(program)
    assert native.status == status
    assert coffer.status == status
    assert coffer.result is not None and coffer.result.exit_status.core_dumped


@needs("gcc")
def test_bad_pointers_give_efault_like_native(tmp_path: Path) -> None:
    program = _compile(tmp_path, "efault", EFAULT_PROGRAM)
    native = run_native(program, cwd=tmp_path)
    coffer = run_in_coffer(program)
    assert b"Bad address" in native.stdout
    assert coffer.stdout == native.stdout and coffer.status == native.status == 0


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
def test_rootfs_is_imported_copy_on_write_and_confined(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "note.txt").write_text("from the host\n")
    (root / "escape").symlink_to("/../../../../etc/hostname")
    (tmp_path / "outside.txt").write_text("secret outside the root\n")
    (root / "up").symlink_to("../outside.txt")
    (root / "bin").mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")  # the program is looked up in the root
    before = _tree_digest(tmp_path)

    assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", "cat", "/data/note.txt"]) == 0
    assert capfd.readouterr().out == "from the host\n"
    # Writes, deletes and renames happen inside the coffer only.
    for argv in (["cp", "/data/note.txt", "/data/copy.txt"], ["rm", "/data/note.txt"],
                 ["mv", "/data", "/moved"], ["mkdir", "/new"]):
        assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", *argv]) == 0
    assert _tree_digest(tmp_path) == before
    # No path leads out of the root: ../ and absolute or relative symlinks stay inside.
    for path in ("/../outside.txt", "/up"):
        assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", "cat", path]) == 1
        assert "secret" not in capfd.readouterr().out
    # /../../../etc/passwd is the coffer's own /etc/passwd, never the host's.
    assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", "cat",
                 "/../../../etc/passwd"]) == 0
    assert capfd.readouterr().out == PASSWD.decode()
    # An absolute symlink target starts at the coffer root: the coffer's hostname.
    assert main(["run", "--rootfs", str(root), "--", "/bin/busybox", "cat", "/escape"]) == 0
    assert capfd.readouterr().out == "coffer\n"


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
def test_default_etc_names_the_system_users_hosts_and_name_service() -> None:
    """Test suites look up ``nobody`` and ``localhost``: a coffer's /etc has them."""
    ids = run_in_coffer(BUSYBOX, ["id", "nobody"], argv0="busybox")
    assert ids.stdout == b"uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    daemon = run_in_coffer(BUSYBOX, ["id", "-gn", "daemon"], argv0="busybox")
    assert daemon.stdout == b"daemon\n"
    hosts = run_in_coffer(BUSYBOX, ["grep", "-c", "localhost", "/etc/hosts"], argv0="busybox")
    assert hosts.stdout == b"2\n"
    nss = run_in_coffer(BUSYBOX, ["grep", "^hosts:", "/etc/nsswitch.conf"], argv0="busybox")
    assert nss.stdout.split() == [b"hosts:", b"files", b"dns"]
