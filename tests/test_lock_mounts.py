"""Mount crossings on the path walk (issue #15): 2.6.35's vfsmount_lock only where a walk
crosses a mount point.

2.6.35's path_init takes no vfsmount_lock; do_lookup's __follow_mount calls lookup_mnt
(spin_lock(&vfsmount_lock), fs/namespace.c) while the dentry it reached is a mount point,
once per mount crossed, and follow_dotdot's follow_up takes it for ".." out of a mount's
root. Current Linux reads the mount_lock sequence in path_init and looks a crossing up
under RCU (__follow_mount_rcu): no spinlock either way.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import simpy

from cofferos.coffers import locktrace
from cofferos.coffers.fs.vfs import FileSystem, Mount
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockalgo import ALGORITHMS, CNA, QSPINLOCK, TICKET
from cofferos.sim.lockversions import LINUX_2_6_35, LINUX_6, VERSIONS
from cofferos.sim.validate import LAYOUTS
from cofferos.workloads.build import resolve
from tests.support import run_in_coffer, run_native

DIR_MODE = 0o755
FILE_MODE = 0o100644


def _mount(fs: FileSystem, parent, name: str):
    """A tmpfs of its own (another FileSystem's root) mounted on parent/name; its root."""
    covered = fs.mkdir(parent, name, DIR_MODE)
    root = FileSystem().root
    root.parent = parent
    fs.ns.add(Mount(root, covered, parent, name, ""))
    return root


def _tree() -> FileSystem:
    """/etc/localtime on the root's tmpfs; /spool a tmpfs, /spool/input/A one on it (as
    MOSBENCH's tmpfs-separate), /spool/input/A/msg a file in the innermost."""
    fs = FileSystem()
    fs.mknod(fs.mkdir(fs.root, "etc", DIR_MODE), "localtime", FILE_MODE)
    spool = _mount(fs, fs.root, "spool")
    fs.mknod(_mount(fs, fs.mkdir(spool, "input", DIR_MODE), "A"), "msg", FILE_MODE)
    return fs


def _takes(table: dict, path: str) -> dict[str, int]:
    """Acquisitions by lock name of a lookup of ``path`` under ``table``, each lock that
    is not free (RCU and seqcount readers take nothing)."""
    fs = _tree()
    locktrace.trace = []
    try:
        fs.lookup(path, fs.root)
        records = tuple(locktrace.trace)
    finally:
        locktrace.trace = None
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=table)
    env.process(locks.take(records, "a", 0, 1.0, [0.0, 0.0]))
    env.run()
    taken: dict[str, int] = {}
    for (name, _placement, _obj), lock in locks.locks.items():
        taken[name] = taken.get(name, 0) + lock.acquisitions
    return taken


def _crossings(path: str) -> int:
    fs = _tree()
    locktrace.trace = []
    try:
        fs.lookup(path, fs.root)
        return sum(cls == locktrace.MNT_CROSS for cls, _obj in locktrace.trace)
    finally:
        locktrace.trace = None


def test_a_walk_records_each_mount_it_crosses_and_nothing_else() -> None:
    assert _crossings("/etc/localtime") == 0
    assert _crossings("/spool") == 1
    assert _crossings("/spool/input/A/msg") == 2  # the spool's, then A's
    assert _crossings("/spool/input/A/..") == 3  # in twice, out of A by ".." (follow_up)
    assert _crossings("/spool/input/A/../../..") == 4  # and out of the spool's


def test_2_6_35_takes_vfsmount_lock_once_per_crossing_only() -> None:
    assert "vfsmount_lock" not in _takes(LINUX_2_6_35, "/etc/localtime")
    assert _takes(LINUX_2_6_35, "/spool/input/A/msg")["vfsmount_lock"] == 2
    assert _takes(LINUX_2_6_35, "/spool/input/A/..")["vfsmount_lock"] == 3
    # (each crossing also takes the child mount's count: mntget, and mntput later)
    assert _takes(LINUX_2_6_35, "/spool/input/A/msg")["mnt_count"] == 1 + 2  # start + two


def test_current_linux_takes_no_spinlock_for_a_walk_crossing_or_not() -> None:
    for version in ("6.x", "4.2"):
        for path in ("/etc/localtime", "/spool/input/A/msg", "/spool/input/A/.."):
            taken = _takes(VERSIONS[version], path)
            assert "vfsmount_lock" not in taken and "mount_lock" not in taken, taken
            spinning = {rule.name for rules in VERSIONS[version].values() for rule in rules
                        if rule.algorithm in (TICKET, QSPINLOCK, CNA)}
            assert not spinning & set(taken), (version, path, taken)


def test_the_mount_rules_name_their_sources() -> None:
    cross_old, count = LINUX_2_6_35[locktrace.MNT_CROSS]
    assert (cross_old.name, cross_old.algorithm, cross_old.source) == \
        ("vfsmount_lock", TICKET, "lookup_mnt")
    assert count.name == "mnt_count"
    assert LINUX_2_6_35[locktrace.MNT_READ] == ()  # path_init: no vfsmount_lock
    for table in (LINUX_6, VERSIONS["4.2"]):
        read, = table[locktrace.MNT_READ]
        cross, = table[locktrace.MNT_CROSS]
        assert (read.name, read.source, cross.name, cross.source) == \
            ("mount_lock", "path_init", "mount_lock", "__follow_mount_rcu")
        assert ALGORITHMS[read.algorithm].free and ALGORITHMS[cross.algorithm].free


def _exim_walks(layout: str, messages: int) -> Counter:
    """The walks' mount records of a functional run of @mosbench exim (1 worker)."""
    locktrace.trace = []
    try:
        outcome = run_in_coffer(resolve("@mosbench"),
                                ["exim", "1", str(messages), "/tmp/mosbench", layout])
        assert outcome.status == 0, outcome.stderr
        return Counter(cls for cls, _obj in locktrace.trace)
    finally:
        locktrace.trace = None


def test_mosbench_exim_crosses_mounts_in_mosbench_s_separate_layout_only() -> None:
    """MOSBENCH's config.py runs Exim on tmpfs-separate (mkmounts: the spool and each of its
    input subdirectories a tmpfs, the mail directory another): validate asks for it, and
    then the spool, mailbox and log walks cross mounts, the stand-ins' (/etc/localtime,
    /var/tmp, /sys/...) do not."""
    assert LAYOUTS["mosbench"] == ("tmpfs-separate",)
    assert _exim_walks("tmpfs", 10)[locktrace.MNT_CROSS] == 0
    ten, twenty = _exim_walks("tmpfs-separate", 10), _exim_walks("tmpfs-separate", 20)
    crossings, walks = (twenty[c] - ten[c] for c in (locktrace.MNT_CROSS, locktrace.MNT_READ))
    assert walks > crossings > 0  # per 10 messages: some walks cross two, some none


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs-separate mounts: root natively")
def test_the_separate_layout_runs_as_it_does_natively(tmp_path: Path) -> None:
    path = resolve("@mosbench")
    args = ["exim", "2", "5"]
    native = run_native(path, [*args, str(tmp_path / "root"), "tmpfs-separate"])
    simulated = run_in_coffer(path, [*args, "/tmp/mosbench", "tmpfs-separate"])
    assert native.status == simulated.status == 0, (native.stderr, simulated.stderr)
    assert simulated.stdout == native.stdout == b"mosbench exim: 2 workers x 5 messages\n"
    assert not list((tmp_path / "root" / "mail").iterdir())  # (its tmpfs went with it)
    bad = run_in_coffer(path, [*args, "/tmp/mosbench", "ext4"])
    assert bad.status == 2 and b"tmpfs|tmpfs-separate" in bad.stderr
