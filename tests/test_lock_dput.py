"""2.6.35's dput: the decrement of a dentry's last reference takes dcache_lock (issue #15, Exim).

``dput`` is ``atomic_dec_and_lock(&dentry->d_count, &dcache_lock)`` in 2.6.35
(fs/dcache.c): a decrement that would reach zero takes the global dcache_lock
first, then puts the dentry on its superblock's LRU list. A dentry's count reaches
zero when its last user lets go of it: a new name's creator after mkdir or at the
file's close, and a walk ending on a file. A directory's children pin it (each
child's d_parent holds a reference), so a walk ending on one does not. Current
Linux's dput drops a lockref without any global lock.
"""

from __future__ import annotations

import os

import simpy

from cofferos.coffers import locktrace
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


def test_a_new_name_and_a_walk_to_a_file_drop_a_last_reference() -> None:
    assert _last_puts(lambda fs: fs.open("/spool/new", fs.root, os.O_CREAT | os.O_WRONLY,
                                         0o644)) == 1
    assert _last_puts(lambda fs: fs.lookup("/spool/old", fs.root)) == 1
    assert _last_puts(lambda fs: fs.lookup("/spool", fs.root)) == 0  # pinned by its child


def _dcache_takes(table: dict) -> int:
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=table)
    records = _records(lambda fs: fs.lookup("/spool/old", fs.root))
    env.process(locks.take(tuple(records), "a", 0, 1.0, [0.0, 0.0]))
    env.run()
    found = [lock for key, lock in locks.locks.items() if key[0] == "dcache_lock"]
    return sum(lock.acquisitions for lock in found)


def test_dput_takes_dcache_lock_in_2_6_35_only() -> None:
    assert _dcache_takes(LINUX_2_6_35) == 1  # the stat's dput of the file's last reference
    assert _dcache_takes(LINUX_6) == 0


def test_exim_is_judged_on_the_functions_its_spinning_is_charged_to() -> None:
    """MOSBENCH's Exim profile says its spinning was mostly in dget/dput, functions, not
    locks: the row agrees when the model charges at least half its lock waits to them
    (the rules' sources), whatever lock it spun on."""
    from cofferos.sim import validate
    from cofferos.sim.validate import ONE, Point, rows_for

    def row(callers: dict[str, float]) -> dict:
        points = [Point("mosbench:exim", "linux:2.6.35", ONE, n, t, {"dcache_lock": w},
                        1e7, False, caller_ns=c)
                  for n, t, w, c in ((1, 10.0, 0.0, {}), (40, 20.0, 5e6, callers))]
        return rows_for(points)[0]

    mostly = row({"dput": 2e6, "__d_lookup": 1e6, "d_alloc": 2e6})
    assert (mostly["bottleneck"], mostly["caller"], mostly["agrees"]) == \
        ("dcache_lock", "dput", "yes")
    assert mostly["callers"] == "dput 20%, d_alloc 20%, __d_lookup 10%"
    on_top_only = row({"dput": 2.3e6, "d_instantiate": 2.2e6, "d_alloc": 1.5e6})
    assert on_top_only["caller"] == "dput" and on_top_only["agrees"] == "no"
    assert validate.top_caller(Point("x", "linux", ONE, 1, 1.0, {}, 1e7, False,
                                     caller_ns={"dput": 1.0})) is None  # too small a share
