"""2.6.35's dput and negative dentries on tmpfs (issue #15, Exim).

``dput`` is ``atomic_dec_and_lock(&dentry->d_count, &dcache_lock)`` in 2.6.35
(fs/dcache.c): a decrement that would reach zero takes the global dcache_lock.
On tmpfs a name's dentry never gets there while the name exists: shmem_mknod
takes an extra reference ("pin the dentry in core") that only simple_unlink
drops, so neither a walk ending on a file nor a new name's creator drops the
last reference. A lookup of an absent name does: simple_lookup hashes a negative
dentry whose d_op deletes it at its last put, so every such lookup allocates one
(d_alloc, d_instantiate, d_rehash under dcache_lock) and kills it at its own dput
(dcache_lock again). Current Linux takes per-dentry locks for both.
"""

from __future__ import annotations

import errno
import os

import simpy

from cofferos.coffers import locktrace
from cofferos.coffers.fs.errors import FsError
from cofferos.coffers.fs.vfs import FileSystem
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockversions import LINUX_2_6_35, LINUX_6


def _records(action) -> list[tuple[str, object]]:
    fs = FileSystem()
    directory = fs.mkdir(fs.root, "spool", 0o755)
    fs.mknod(directory, "old", 0o100644)
    locktrace.trace = []
    try:
        action(fs)
        return locktrace.trace
    finally:
        locktrace.trace = None


def _last_puts(action) -> int:
    return sum(1 for cls, _obj in _records(action) if cls == locktrace.D_LAST_PUT)


def test_only_a_lookup_of_an_absent_name_drops_a_last_reference() -> None:
    assert _last_puts(lambda fs: fs.open("/spool/new", fs.root, os.O_CREAT | os.O_WRONLY,
                                         0o644)) == 0  # pinned by shmem_mknod
    assert _last_puts(lambda fs: fs.lookup("/spool/old", fs.root)) == 0  # pinned
    assert _last_puts(lambda fs: fs.lookup("/spool", fs.root)) == 0
    assert _last_puts(lambda fs: _absent(fs, "/spool/.forward")) == 1
    records = _records(lambda fs: _absent(fs, "/spool/.forward"))
    assert (locktrace.D_NEGATIVE, records[-1][1]) in records
    assert records[-1][1] is records[-2][1]  # both with the directory looked in


def _absent(fs: FileSystem, path: str) -> None:
    try:
        fs.lookup(path, fs.root)
    except FsError as error:
        assert error.errno == errno.ENOENT
    else:
        raise AssertionError(f"{path} exists")


def _dcache_takes(table: dict, path: str) -> int:
    """dcache_lock's acquisitions in a lookup of ``path`` (ending in "absent": ENOENT;
    "rename": spool/old renamed to spool/new)."""
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=table)
    if path == "rename":
        records = _records(lambda fs: fs.rename(fs.lookup("/spool", fs.root), "old",
                                                fs.lookup("/spool", fs.root), "new"))
        # (the two walks to the directory take no dcache_lock: its children pin it)
    else:
        records = _records(lambda fs: _absent(fs, path) if path.endswith("absent")
                           else fs.lookup(path, fs.root))
    env.process(locks.take(tuple(records), "a", 0, 1.0, [0.0, 0.0]))
    env.run()
    return sum(lock.acquisitions for key, lock in locks.locks.items()
               if key[0] == "dcache_lock")


def test_a_walk_to_a_file_takes_no_dcache_lock_and_an_absent_name_four() -> None:
    assert _dcache_takes(LINUX_2_6_35, "/spool/old") == 0  # the pinned file's dput
    # d_alloc, d_instantiate, d_rehash, and the negative dentry's last dput
    assert _dcache_takes(LINUX_2_6_35, "/spool/absent") == 4
    assert _dcache_takes(LINUX_6, "/spool/absent") == 0


def test_6x_makes_and_kills_a_negative_dentry_under_the_parents_d_lock() -> None:
    sources = [rule.source for rule in LINUX_6[locktrace.D_NEGATIVE]]
    assert sources == ["d_alloc", "__dentry_kill"]
    assert all(rule.scope == "object" for rule in LINUX_6[locktrace.D_NEGATIVE])
    (lookup,) = LINUX_6[locktrace.DIR_LOOKUP]
    assert (lookup.name, lookup.shared) == ("i_rwsem", True)  # parallel lookups (4.7)
    assert [rule.name for rule in LINUX_2_6_35[locktrace.DIR_LOOKUP]] == ["i_mutex"]
    assert [rule.name for rule in LINUX_2_6_35[locktrace.D_NEGATIVE]].count("dcache_lock") == 3


def test_exim_is_judged_on_the_functions_its_spinning_is_charged_to() -> None:
    """The Exim profile (Kleen and Chen, 2.6.38) says its spinning was mostly in
    dget/dput, functions, not locks: the row agrees when the model charges at least half
    its lock waits to them (the rules' sources), whatever lock it spun on."""
    from cofferos.sim import validate
    from cofferos.sim.validate import ONE, Point, rows_for

    def row(callers: dict[str, float]) -> dict:
        points = [Point("mosbench:exim", "linux:2.6.38", ONE, n, t, {"d_lock": w},
                        1e7, False, caller_ns=c)
                  for n, t, w, c in ((1, 10.0, 0.0, {}), (40, 20.0, 5e6, callers))]
        return rows_for(points)[0]

    mostly = row({"dput": 2e6, "__d_lookup": 1e6, "d_alloc": 2e6})
    assert (mostly["bottleneck"], mostly["caller"], mostly["agrees"]) == \
        ("d_lock", "dput", "yes")
    assert mostly["callers"] == "dput 20%, d_alloc 20%, __d_lookup 10%"
    on_top_only = row({"dput": 2.3e6, "d_instantiate": 2.2e6, "d_alloc": 1.5e6})
    assert on_top_only["caller"] == "dput" and on_top_only["agrees"] == "no"
    assert validate.top_caller(Point("x", "linux", ONE, 1, 1.0, {}, 1e7, False,
                                     caller_ns={"dput": 1.0})) is None  # too small a share


def test_a_rename_onto_an_absent_name_makes_and_kills_a_negative_target() -> None:
    """sys_renameat's lookup_hash of the absent target hashes a negative dentry (d_alloc,
    d_instantiate, d_rehash); d_move unhashes it and the final dput kills it."""
    assert _dcache_takes(LINUX_2_6_35, "rename") == 5  # and d_move's own
    assert _dcache_takes(LINUX_6, "rename") == 0
