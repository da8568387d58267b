"""Tests of /proc and the /dev links: generated from the coffer's own state only.

Three layers: the synthetic-inode mechanism of :mod:`cofferos.coffers.fs.synthetic`
on a bare filesystem; a coffer's /proc read through the filesystem API (what it
lists, what each file says, that two coffers see only themselves and nothing
of the host); and real guest programs (busybox, a small C program compiled at
test time) reading /proc and opening /dev/stdin, /dev/stderr and /dev/tty.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.synthetic import SyntheticDir, SyntheticFile, SyntheticLink
from cofferos.coffers.procfs.cpuinfo import flags
from cofferos.isa.cpuid import cpuid
from tests.support import compile_guest, run_in_coffer

BUSYBOX = Path("/bin/busybox")
GIB = 1 << 30
KIB = 1024

needs_busybox = pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox is not installed")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def raises(err: int, func: object, *args: object) -> None:
    with pytest.raises(FsError) as info:
        func(*args)  # type: ignore[operator]
    assert info.value.errno == err, info.value


def read(fs: FileSystem, path: str) -> str:
    inode = fs.open(path, fs.root, os.O_RDONLY, 0)
    return inode.read(0, 1 << 20).decode()


def names(fs: FileSystem, path: str) -> list[str]:
    return [name for name, _ in fs.lookup(path, fs.root).entries()]


# -- the mechanism: synthetic files, directories, links; mounts -------------------------


def test_synthetic_file_snapshots_at_open() -> None:
    fs = FileSystem()
    sb = Superblock(dev=2, now_ns=fs.sb.now_ns)
    counter = [0]
    counter_file = SyntheticFile(sb, lambda: f"{counter[0]}\n".encode())
    fs.mount("/proc", SyntheticDir(sb, lambda: [("counter", counter_file)]))
    opened = fs.open("/proc/counter", fs.root, os.O_RDONLY, 0)
    counter[0] = 7
    assert opened.read(0, 10) == b"0\n"  # the open file keeps what it saw at open
    assert fs.open("/proc/counter", fs.root, os.O_RDONLY, 0).read(0, 10) == b"7\n"
    st = opened.stat()
    assert (st.st_size, st.st_ino, st.st_dev) == (0, counter_file.ino, 2)
    assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o444
    writable = fs.open("/proc/counter", fs.root, os.O_WRONLY | os.O_TRUNC, 0)
    raises(errno.EIO, writable.write, 0, b"1")


def test_synthetic_directory_is_listed_afresh_and_cannot_change() -> None:
    fs = FileSystem()
    sb = Superblock(dev=2, now_ns=fs.sb.now_ns)
    children = {"a": SyntheticFile(sb, lambda: b"a")}
    proc = SyntheticDir(sb, lambda: list(children.items()))
    fs.mount("/proc", proc)
    assert names(fs, "/proc") == ["a"]
    children["sub"] = SyntheticDir(sb, lambda: [])
    assert names(fs, "/proc") == ["a", "sub"]
    assert proc.nlink == 3 and fs.lookup("/proc/sub/..", fs.root) is proc
    parent, name = fs.lookup_parent("/proc/new", fs.root)
    raises(errno.EPERM, fs.mkdir, parent, name, 0o755)
    raises(errno.EPERM, fs.unlink, proc, "a")
    raises(errno.ENOENT, fs.lookup, "/proc/missing", fs.root)


def test_mount_boundaries_exdev_and_ebusy() -> None:
    fs = FileSystem()
    fs.populate_defaults()
    sb = Superblock(dev=2, now_ns=fs.sb.now_ns)
    proc = SyntheticDir(sb, lambda: [("f", SyntheticFile(sb, lambda: b""))])
    hidden = fs.mkdir(fs.root, "proc", 0o755)
    fs.mount("/proc", proc)
    assert fs.lookup("/proc", fs.root) is proc and hidden.nlink == 2  # covered, not removed
    tmp = fs.lookup("/tmp", fs.root)
    raises(errno.EXDEV, fs.rename, tmp, "x", proc, "x")
    raises(errno.EXDEV, fs.link, proc.child("f"), tmp, "f")
    raises(errno.EBUSY, fs.rmdir, fs.root, "proc")
    raises(errno.EBUSY, fs.rename, fs.root, "proc", fs.root, "elsewhere")
    assert fs.path_of(proc) == "/proc"


def test_dynamic_and_magic_links() -> None:
    fs = FileSystem()
    fs.populate_defaults()
    sb = Superblock(dev=2, now_ns=fs.sb.now_ns)
    etc = fs.lookup("/etc", fs.root)
    target = ["/etc/passwd"]
    plain = SyntheticLink(sb, lambda: target[0])
    magic = SyntheticLink(sb, lambda: "/no/such/path", jump=lambda: etc)
    fs.mount("/l", SyntheticDir(sb, lambda: [("plain", plain), ("magic", magic)]))
    assert fs.lookup("/l/plain", fs.root).read(0, 4) == b"root"
    target[0] = "/etc/group"
    assert fs.lookup("/l/plain", fs.root, follow=False).readlink() == "/etc/group"
    assert fs.lookup("/l/magic/hostname", fs.root).read(0, 100) == b"coffer\n"
    assert fs.open("/l/magic", fs.root, os.O_RDONLY | os.O_DIRECTORY, 0) is etc
    raises(errno.EISDIR, fs.open, "/l/magic", fs.root, os.O_WRONLY | os.O_CREAT, 0o644)


# -- a coffer's /proc through the filesystem API -----------------------------------------


def spawned(*argvs: list[str], **config: object) -> Coffer:
    coffer = Coffer(CofferConfig(**config))  # type: ignore[arg-type]
    for argv in argvs:
        coffer.spawn(str(BUSYBOX), argv, ["HOME=/root", f"WHO={argv[0]}"])
    return coffer


def test_empty_coffer_lists_system_files_only() -> None:
    fs = Coffer().fs
    listed = names(fs, "/proc")
    assert {"cpuinfo", "meminfo", "uptime", "loadavg", "self", "mounts", "sys"} <= set(listed)
    assert not [name for name in listed if name.isdigit()]
    raises(errno.ENOENT, fs.lookup, "/proc/self", fs.root)  # nobody to be
    assert read(fs, "/proc/uptime") == "0.00 0.00\n"
    assert fs.lookup("/proc", fs.root).stat().st_dev != fs.root.stat().st_dev


@needs_busybox
def test_each_coffer_sees_only_its_own_tasks() -> None:
    one = spawned(["true"])
    two = spawned(["sh"], ["cat"], hostname="other")
    assert [n for n in names(one.fs, "/proc") if n.isdigit()] == ["1"]
    assert [n for n in names(two.fs, "/proc") if n.isdigit()] == ["1", "2"]
    assert read(one.fs, "/proc/1/cmdline") == "true\0"
    assert read(two.fs, "/proc/2/cmdline") == "cat\0"
    assert read(two.fs, "/proc/2/environ") == "HOME=/root\0WHO=cat\0"
    raises(errno.ENOENT, one.fs.lookup, "/proc/2", one.fs.root)
    assert read(one.fs, "/proc/sys/kernel/hostname") == "coffer\n"
    assert read(two.fs, "/proc/sys/kernel/hostname") == "other\n"


@needs_busybox
def test_self_status_stat_and_maps() -> None:
    coffer = spawned(["cat", "/dev/null"])
    fs = coffer.fs
    assert fs.lookup("/proc/self", fs.root, follow=False).readlink() == "1"
    assert fs.lookup("/proc/thread-self", fs.root, follow=False).readlink() == "1/task/1"
    status = read(fs, "/proc/self/status")
    for line in ("State:\tR (running)", "Tgid:\t1", "Pid:\t1", "PPid:\t0",
                 "Uid:\t0\t0\t0\t0", "Threads:\t1"):
        assert line + "\n" in status
    vm_size = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    mapped = sum(v.length for v in coffer.tasks[1].mm.vmas)
    assert vm_size == mapped // KIB
    fields = read(fs, "/proc/self/stat").split()
    assert len(fields) == 52
    assert fields[:5] == ["1", f"({coffer.tasks[1].comm})", "R", "0", "1"]
    assert int(fields[22]) == mapped  # vsize
    maps = read(fs, "/proc/1/maps").splitlines()
    assert maps[-1].endswith(" [stack]") and maps[-1][73:] == "[stack]"
    line = re.compile(r"^[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-][ps] [0-9a-f]{8} "
                      r"[0-9a-f]{2}:[0-9a-f]{2} \d+ ")
    assert all(line.match(entry) for entry in maps)
    assert any(" r-xp " in entry for entry in maps)
    assert names(fs, "/proc/1/task") == ["1"]
    assert names(fs, "/proc/1/fd") == ["0", "1", "2"]
    assert fs.lookup("/proc/1/fd/1", fs.root, follow=False).readlink().startswith("pipe:[")


def test_meminfo_cpuinfo_and_sysctls_from_the_configuration() -> None:
    coffer = Coffer(CofferConfig(memory_limit=GIB))
    fs = coffer.fs
    meminfo = read(fs, "/proc/meminfo")
    values = {k: v for k, v in re.findall(r"^(\w+(?:\(\w+\))?):\s+(\d+)", meminfo, re.M)}
    assert values["MemTotal"] == values["MemFree"] == values["MemAvailable"] == str(GIB // KIB)
    for field in ("Buffers", "Cached", "SwapTotal", "SwapFree"):
        assert values[field] == "0"
    assert re.search(r"^MemTotal:\s+1048576 kB$", meminfo, re.M)
    cpu = read(fs, "/proc/cpuinfo")
    assert cpu.count("processor\t:") == 1
    frequency = coffer.config.kernel_costs.frequency_hz
    assert f"cpu MHz\t\t: {frequency / 1e6:.3f}\n" in cpu
    words = set(re.search(r"^flags\t\t: (.*)$", cpu, re.M).group(1).split())  # type: ignore[union-attr]
    assert {"sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lm"} <= words
    assert not {w for w in words if w.startswith("avx")}
    assert words == set(flags())
    ecx = cpuid(1, 0)[2]
    assert ("sse4_2" in words) == bool(ecx >> 20 & 1)
    assert "GenuineIntel" in cpu
    sysctl = {name: read(fs, f"/proc/sys/kernel/{name}").strip()
              for name in ("hostname", "ostype", "osrelease", "pid_max", "ngroups_max")}
    assert sysctl["hostname"] == "coffer" and sysctl["ostype"] == "Linux"
    assert int(sysctl["pid_max"]) > 0 and int(sysctl["ngroups_max"]) == 65536
    assert read(fs, "/proc/sys/vm/overcommit_memory") in ("0\n", "1\n", "2\n")
    assert read(fs, "/proc/sys/vm/max_map_count") == "65530\n"  # Linux's default, enforced
    assert "proc\n" in read(fs, "/proc/filesystems")


@needs_busybox
def test_mounts_uptime_and_loadavg_follow_the_coffer() -> None:
    coffer = spawned(["true"])
    fs = coffer.fs
    mounts = read(fs, "/proc/mounts").splitlines()
    assert [line.split()[1] for line in mounts] == ["/", "/proc", "/dev/pts"]
    assert read(fs, "/proc/self/mounts").splitlines() == mounts
    loadavg = read(fs, "/proc/loadavg").split()
    assert loadavg[3:] == ["1/1", "1"]
    coffer.run()
    up = float(read(fs, "/proc/uptime").split()[0])
    assert up == pytest.approx(coffer.monotonic_ns() / 1e9, abs=0.01)


def test_nothing_comes_from_a_host_rootfs_proc(tmp_path: Path) -> None:
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 1 kB\n")
    fs = Coffer(CofferConfig(rootfs=str(tmp_path))).fs
    assert [n for n in names(fs, "/proc") if n.isdigit()] == []
    assert read(fs, "/proc/meminfo").startswith("MemTotal:        4194304 kB\n")


def test_dev_links_and_shm() -> None:
    fs = Coffer().fs
    links = {name: fs.lookup(f"/dev/{name}", fs.root, follow=False).readlink()
             for name in ("fd", "stdin", "stdout", "stderr")}
    assert links == {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                     "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
    shm = fs.lookup("/dev/shm", fs.root)
    assert shm.is_dir() and shm.mode & 0o7777 == 0o1777
    made = fs.open("/dev/shm/segment", fs.root, os.O_RDWR | os.O_CREAT, 0o600)
    made.write(0, b"shared")
    assert fs.lookup("/dev/shm/segment", fs.root).read(0, 10) == b"shared"


# -- real guests -----------------------------------------------------------------------


@needs_busybox
def test_busybox_ls_proc_lists_only_the_coffers_pids() -> None:
    """sh (pid 1) runs ls (pid 2), then cat (pid 3): each sees the coffer's pids only,
    and /proc/self is the caller, not the lowest pid."""
    outcome = run_in_coffer(BUSYBOX, ["-c", "ls /proc; echo; cat /proc/self/status; true"],
                            argv0="sh")
    assert outcome.status == 0, outcome.stderr
    listing, status = outcome.stdout.decode().split("\n\n", 1)
    assert [name for name in listing.split() if name.isdigit()] == ["1", "2"]
    assert "Pid:\t3\n" in status and "PPid:\t1\n" in status


@needs_busybox
def test_busybox_dev_stdin_stderr_tty_and_shm() -> None:
    script = ("cat /dev/stdin; echo to-stderr >/dev/stderr; echo to-stdout >/dev/stdout; "
              "echo kept >/dev/shm/f && cat /dev/shm/f; cat /dev/tty; echo tty=$?")
    outcome = run_in_coffer(BUSYBOX, ["-c", script], argv0="sh", stdin=b"from-stdin\n")
    assert outcome.stdout == b"from-stdin\nto-stdout\nkept\ntty=1\n"
    assert outcome.stderr.startswith(b"to-stderr\n")
    assert b"'/dev/tty': No such device or address" in outcome.stderr


PROC_READER = r"""
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) { perror("readlink"); return 1; }
    exe[n] = 0;
    printf("exe=%s\n", exe);
    int heap = 0, stack = 0, lines = 0;
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) { perror("maps"); return 1; }
    while (fgets(line, sizeof line, maps)) {
        lines++;
        heap |= strstr(line, "[heap]") != NULL;
        stack |= strstr(line, "[stack]") != NULL;
    }
    fclose(maps);
    printf("maps=%d heap=%d stack=%d\n", lines > 2, heap, stack);
    unsigned long total = 0;
    FILE *mem = fopen("/proc/meminfo", "r");
    if (!mem || fscanf(mem, "MemTotal: %lu kB", &total) != 1) { perror("meminfo"); return 1; }
    fclose(mem);
    printf("memtotal=%lu\n", total);
    int fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) fds += entry->d_name[0] != '.';
    closedir(dir);
    printf("fds=%d\n", fds);
    int fd = open("/proc/self/fd/1", O_WRONLY);
    if (fd < 0 || write(fd, "via-fd-link\n", 12) != 12) { perror("fd link"); return 1; }
    printf("pid=%d nprocs=%ld\n", getpid(), sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
}
"""


@needs_gcc
def test_c_program_reads_its_own_proc(tmp_path: Path) -> None:
    source = tmp_path / "procread.c"
    source.write_text(PROC_READER)
    binary = tmp_path / "procread"
    built = subprocess.run(["gcc", "-static", "-O1", "-o", str(binary), str(source)],
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.skip(f"cannot build a static guest: {built.stderr[-200:]}")
    outcome = run_in_coffer(binary, argv0="/bin/procread", memory_limit=2 * GIB)
    assert outcome.status == 0, outcome.stderr
    out = outcome.stdout.decode()
    assert "exe=/bin/procread\n" in out
    assert "maps=1 heap=1 stack=1\n" in out
    assert f"memtotal={2 * GIB // KIB}\n" in out
    assert "fds=4\n" in out  # 0, 1, 2 and the directory being read
    assert "via-fd-link\n" in out
    assert "pid=1 nprocs=1\n" in out


def test_reaped_tasks_directories_do_not_stay_in_host_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each /proc/PID directory holds its task (and address space) through its closures:
    a program that forks children which look up /proc/self must not keep them all (the
    fuzzer's campaigns grew past their host memory bound this way)."""
    from cofferos.coffers import coffer as coffer_module
    from cofferos.coffers.procfs.tree import MIN_PRUNE_AT

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    made: list[object] = []
    original = coffer_module.mount_procfs
    monkeypatch.setattr(coffer_module, "mount_procfs",
                        lambda c: made.append(original(c)) or made[-1])
    source = tmp_path / "forks.c"
    children = 5 * MIN_PRUNE_AT
    source.write_text(
        "#include <fcntl.h>\n#include <sys/wait.h>\n#include <unistd.h>\n#include <stdio.h>\n"
        f"int main(void){{for(int i=0;i<{children};i++){{pid_t p=fork();"
        "if(p==0){int fd=open(\"/proc/self/status\",O_RDONLY);_exit(fd<0);}"
        "int st;waitpid(p,&st,0);if(st)return 1;}puts(\"ok\");return 0;}\n")
    binary = compile_guest(source, tmp_path)
    outcome = run_in_coffer(binary)
    assert outcome.status == 0 and outcome.stdout == b"ok\n"
    cached = made[0]._task_dirs  # type: ignore[attr-defined]
    assert len(cached) <= 2 * MIN_PRUNE_AT, len(cached)
