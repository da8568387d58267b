"""mount(2) and umount2(2) of a tmpfs inside a coffer (coffers/syscalls/namespace.py).

A small C guest makes each call, error paths included, and prints every result
or errno name (``check.h``'s ``T``). Natively it would need to be root (or in a
user namespace), so it runs only in coffers, against the answers Linux gives a
rootless container's namespace root.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.syscalls.table import default_table
from tests.support import compile_guest, needs_gcc

FILE_BYTES = 65_536  #: what the guest writes into a tmpfs before unmounting it

GUEST = r"""
#include "check.h"
#include <sys/mount.h>

static void show_mounts(void)
{
    char buf[4096];
    int fd = open("/proc/mounts", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    printf("%s", buf);
}

static void show_cwd(void)
{
    char buf[256];
    if (getcwd(buf, sizeof buf))
        printf("cwd %s\n", buf);
    else
        printf("cwd -1 %s\n", strerrorname_np(errno));
}

static int tmpfs(const char *where) { return mount("none", where, "tmpfs", 0, NULL); }

int main(int argc, char **argv)
{
    struct stat root, mnt;
    if (argc > 1) { /* leave: mount and exit, for the independence check */
        T(mkdir("/mnt", 0755));
        T(tmpfs("/mnt"));
        T(close(open("/mnt/mine", O_CREAT | O_WRONLY, 0644)));
        show_mounts();
        return 0;
    }
    T(mkdir("/mnt", 0755));
    T(close(open("/mnt/under", O_CREAT | O_WRONLY, 0644)));
    T(tmpfs("/mnt"));
    T(access("/mnt/under", F_OK));
    T(close(open("/mnt/file", O_CREAT | O_WRONLY, 0644)));
    T(access("/mnt/file", F_OK));
    stat("/", &root);
    stat("/mnt", &mnt);
    printf("own device %d, mode %o\n", root.st_dev != mnt.st_dev, mnt.st_mode & 07777);
    show_mounts();
    /* stacked: the newest wins, umount2 takes the top one off */
    T(tmpfs("/mnt"));
    T(access("/mnt/file", F_OK));
    T(umount2("/mnt", 0));
    T(access("/mnt/file", F_OK));
    T(umount2("/mnt", 0));
    T(access("/mnt/file", F_OK));
    T(access("/mnt/under", F_OK));
    show_mounts();
    /* errors */
    T(mount("none", "/mnt", "ext4", 0, NULL));
    T(mount("none", "/nonexistent", "tmpfs", 0, NULL));
    T(mount("none", "/mnt/under", "tmpfs", 0, NULL));
    T(mount("none", "/mnt", "tmpfs", MS_BIND, NULL));
    T(mount("none", "/mnt", "tmpfs", MS_NOSYMFOLLOW, NULL));
    T(mount("none", "/mnt", NULL, 0, NULL));
    T(mount("none", "/mnt", BAD_POINTER, 0, NULL));
    T(mount("none", BAD_POINTER, "tmpfs", 0, NULL));
    T(umount2("/mnt", 0));
    T(umount2("/proc", 0));
    T(umount2("/nonexistent", 0));
    T(umount2("/mnt", 0x100));
    /* busy: a cwd, an open file, a mount inside */
    T(tmpfs("/mnt"));
    T(chdir("/mnt"));
    T(umount2("/mnt", 0));
    T(chdir("/"));
    int fd = T(open("/mnt/open", O_CREAT | O_WRONLY, 0644));
    T(umount2("/mnt", 0));
    T(close(fd));
    T(mkdir("/mnt/sub", 0755));
    T(tmpfs("/mnt/sub"));
    T(umount2("/mnt", 0));
    T(umount2("/mnt/sub", 0));
    T(umount2("/mnt", 0));
    /* a cwd covered by a later mount keeps its path */
    T(chdir("/mnt"));
    T(tmpfs("/mnt"));
    show_cwd();
    T(access("under", F_OK));
    T(chdir("/"));
    /* MNT_DETACH: gone from the tree, still usable from inside */
    T(chdir("/mnt"));
    T(close(open("kept", O_CREAT | O_WRONLY, 0644)));
    T(umount2("/mnt", MNT_DETACH));
    T(access("kept", F_OK));
    T(access("/mnt/kept", F_OK));
    T(access("/mnt/under", F_OK));
    show_cwd();
    T(chdir("/"));
    /* MNT_EXPIRE: asked twice */
    T(tmpfs("/mnt"));
    T(umount2("/mnt", MNT_EXPIRE | MNT_DETACH));
    T(umount2("/mnt", MNT_EXPIRE));
    T(umount2("/mnt", MNT_EXPIRE));
    /* a file's bytes go back to the quota when its tmpfs goes */
    T(tmpfs("/mnt"));
    fd = open("/mnt/big", O_CREAT | O_WRONLY, 0644);
    static char block[FILE_BYTES];
    T(write(fd, block, sizeof block));
    T(close(fd));
    T(umount2("/mnt", 0));
    show_mounts();
    return 0;
}
"""

EXPECTED = """\
mkdir("/mnt", 0755) = 0
close(open("/mnt/under", O_CREAT | O_WRONLY, 0644)) = 0
tmpfs("/mnt") = 0
access("/mnt/under", F_OK) = -1 ENOENT
close(open("/mnt/file", O_CREAT | O_WRONLY, 0644)) = 0
access("/mnt/file", F_OK) = 0
own device 1, mode 1777
rootfs / rootfs rw 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,mode=600,ptmxmode=000 0 0
none /mnt tmpfs rw,relatime 0 0
tmpfs("/mnt") = 0
access("/mnt/file", F_OK) = -1 ENOENT
umount2("/mnt", 0) = 0
access("/mnt/file", F_OK) = 0
umount2("/mnt", 0) = 0
access("/mnt/file", F_OK) = -1 ENOENT
access("/mnt/under", F_OK) = 0
rootfs / rootfs rw 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,mode=600,ptmxmode=000 0 0
mount("none", "/mnt", "ext4", 0, NULL) = -1 ENODEV
mount("none", "/nonexistent", "tmpfs", 0, NULL) = -1 ENOENT
mount("none", "/mnt/under", "tmpfs", 0, NULL) = -1 ENOTDIR
mount("none", "/mnt", "tmpfs", MS_BIND, NULL) = -1 ENOENT
mount("none", "/mnt", "tmpfs", MS_NOSYMFOLLOW, NULL) = -1 EINVAL
mount("none", "/mnt", NULL, 0, NULL) = -1 EINVAL
mount("none", "/mnt", BAD_POINTER, 0, NULL) = -1 EFAULT
mount("none", BAD_POINTER, "tmpfs", 0, NULL) = -1 EFAULT
umount2("/mnt", 0) = -1 EINVAL
umount2("/proc", 0) = -1 EINVAL
umount2("/nonexistent", 0) = -1 ENOENT
umount2("/mnt", 0x100) = -1 EINVAL
tmpfs("/mnt") = 0
chdir("/mnt") = 0
umount2("/mnt", 0) = -1 EBUSY
chdir("/") = 0
open("/mnt/open", O_CREAT | O_WRONLY, 0644) = 3
umount2("/mnt", 0) = -1 EBUSY
close(fd) = 0
mkdir("/mnt/sub", 0755) = 0
tmpfs("/mnt/sub") = 0
umount2("/mnt", 0) = -1 EBUSY
umount2("/mnt/sub", 0) = 0
umount2("/mnt", 0) = 0
chdir("/mnt") = 0
tmpfs("/mnt") = 0
cwd /mnt
access("under", F_OK) = 0
chdir("/") = 0
chdir("/mnt") = 0
close(open("kept", O_CREAT | O_WRONLY, 0644)) = 0
umount2("/mnt", MNT_DETACH) = 0
access("kept", F_OK) = 0
access("/mnt/kept", F_OK) = -1 ENOENT
access("/mnt/under", F_OK) = 0
cwd -1 ENOENT
chdir("/") = 0
tmpfs("/mnt") = 0
umount2("/mnt", MNT_EXPIRE | MNT_DETACH) = -1 EINVAL
umount2("/mnt", MNT_EXPIRE) = -1 EAGAIN
umount2("/mnt", MNT_EXPIRE) = 0
tmpfs("/mnt") = 0
write(fd, block, sizeof block) = 65536
close(fd) = 0
umount2("/mnt", 0) = 0
rootfs / rootfs rw 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,mode=600,ptmxmode=000 0 0
"""


def _coffer() -> tuple[Coffer, io.BytesIO]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    return coffer, out


def _run(coffer: Coffer, binary: Path, *args: str) -> int:
    """Run the guest; the disk bytes the coffer's files held when it started."""
    coffer.spawn(str(binary), [binary.name, *args], [])
    before = coffer.disk.used_bytes
    result = coffer.run()
    assert result.oopses == [], result.oopses[0]
    assert result.exit_code == 0
    return before


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("mount")
    source = where / "mount.c"
    source.write_text(GUEST.replace("FILE_BYTES", str(FILE_BYTES)))
    return compile_guest(source, where)


@needs_gcc
def test_mount_and_umount2_of_a_tmpfs(guest: Path) -> None:
    coffer, out = _coffer()
    before = _run(coffer, guest)
    assert out.getvalue().decode() == EXPECTED
    # The guest's other files are empty: the 64 KiB went back with their filesystem.
    assert coffer.disk.used_bytes == before
    assert coffer.fs.mounts == []


@needs_gcc
def test_two_coffers_mount_independently(guest: Path) -> None:
    first, first_out = _coffer()
    second, second_out = _coffer()
    _run(first, guest, "leave")
    _run(second, guest, "leave")
    for out in (first_out, second_out):
        lines = out.getvalue().decode().splitlines()
        assert [line for line in lines if line.startswith("none ")] == [
            "none /mnt tmpfs rw,relatime 0 0"]
    assert len(first.fs.mounts) == len(second.fs.mounts) == 1
    assert first.fs.mounts[0].root.sb is not second.fs.mounts[0].root.sb
    assert first.fs.lookup("/mnt/mine", first.fs.root) is not second.fs.lookup(
        "/mnt/mine", second.fs.root)


def test_mount_and_umount2_are_registered() -> None:
    table = default_table()
    assert {"mount", "umount2"} <= set(table.implemented())


NAMESPACE_GUEST = r"""
#include "check.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

int main(void)
{
    T(mkdir("/mnt", 0755));
    pid_t pid = fork();
    if (pid == 0) {  /* leaves its namespace with a full tmpfs mounted */
        T(unshare(CLONE_NEWNS));
        T(mount("none", "/mnt", "tmpfs", 0, NULL));
        int fd = open("/mnt/f", O_WRONLY | O_CREAT, 0644);
        static char data[FILE_BYTES];
        T(write(fd, data, sizeof data));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    struct stat st;
    T(stat("/mnt/f", &st));
    return 0;
}
"""


@needs_gcc
def test_a_mount_namespace_goes_with_its_last_process(tmp_path: Path) -> None:
    source = tmp_path / "ns.c"
    source.write_text(NAMESPACE_GUEST.replace("FILE_BYTES", str(FILE_BYTES)))
    coffer, out = _coffer()
    before = _run(coffer, compile_guest(source, tmp_path))
    assert "write(fd, data, sizeof data) = 65536" in out.getvalue().decode()
    assert 'stat("/mnt/f", &st) = -1 ENOENT' in out.getvalue().decode()
    # the child's tmpfs went with its namespace, and gave its 64 KiB (and the fd's) back
    assert coffer.disk.used_bytes == before
    assert coffer.fs.mounts == []
