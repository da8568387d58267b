"""Linux 2.6.38 and 2.6.39 (issue #15, Exim judged on the kernel it was profiled on).

2.6.38 has RCU-walk but no dcache_lock: dget and dput each take the dentry's d_lock,
a ticket spinlock. Its RCU-walk of an absolute path fails at the start and the walk is
redone by reference, so every component is a dget and a dput on d_lock; a relative
walk stays in RCU-walk to its last component. 2.6.39 fixed the absolute walk (Kleen).
The walk records which mode it is in (locktrace.WALK_ABS, D_WALK_ABS, D_FINAL_REF_ABS)
only while a machine records; every other version maps those as the relative walk's.
"""

from __future__ import annotations

import pytest
import simpy

from cofferos.coffers import locktrace as lt
from cofferos.coffers.fs.vfs import FileSystem
from cofferos.errors import ConfigError
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockversions import (
    LINUX_2_6_35,
    LINUX_2_6_38,
    LINUX_2_6_39,
    LINUX_6,
    VERSIONS,
    split_kernel,
    with_walk_modes,
)
from cofferos.sim.lockversions_2638 import DGET_DPUT, FALLBACK
from cofferos.sim.validate_gain import GAIN_FACTOR, GAINS, judge_gains
from cofferos.sim.validate_published import PUBLISHED

DEPTH = 3  #: components of the walked path: /a/b/c


def _records(path: str) -> list[tuple[str, object]]:
    """The lock records of a lookup of ``path`` (from /a as the working directory)."""
    fs = FileSystem()
    a = fs.mkdir(fs.root, "a", 0o755)
    fs.mknod(fs.mkdir(a, "b", 0o755), "c", 0o100644)
    lt.trace = []
    try:
        fs.lookup(path, a)
        return lt.trace
    finally:
        lt.trace = None


def _takes(table: dict, path: str) -> dict[str, int]:
    """The d_lock acquisitions of a lookup of ``path`` under ``table``, by rule source."""
    env = simpy.Environment()
    locks = LockTable(env, shared_kernel=True, table=table)
    taken: dict[str, int] = {}
    for cls, _obj in _records(path):
        for rule in locks.table.get(cls, ()):
            if rule.name == "d_lock":
                taken[rule.source] = taken.get(rule.source, 0) + 1
    env.process(locks.take(tuple(_records(path)), "a", 0, 1.0, [0.0, 0.0]))
    env.run()
    assert sum(taken.values()) == sum(lock.acquisitions for key, lock in locks.locks.items()
                                      if key[0] == "d_lock")
    return taken


def test_the_versions_are_chosen_by_name() -> None:
    assert VERSIONS["2.6.38"] is LINUX_2_6_38 and VERSIONS["2.6.39"] is LINUX_2_6_39
    assert split_kernel("linux:2.6.38") == ("linux", "2.6.38")
    with pytest.raises(ConfigError, match="unknown linux version '2.6.37'"):
        split_kernel("linux:2.6.37")
    for table in (LINUX_2_6_38, LINUX_2_6_39):
        names = {rule.name for rules in table.values() for rule in rules}
        assert "dcache_lock" not in names  # "fs: dcache remove dcache_lock" (2.6.38)
    assert {r.name for r in LINUX_2_6_38[lt.SB_INODES]} == {"inode_lock"}
    assert {r.name for r in LINUX_2_6_39[lt.SB_INODES]} == {"inode_sb_list_lock"}


def test_a_2_6_38_absolute_walk_takes_d_lock_per_component_and_a_relative_one_does_not() -> None:
    absolute = _takes(LINUX_2_6_38, "/a/b/c")
    # __d_lookup (dget's work) and dput per component; the root: the fallback's d_lock,
    # path_init's two dgets and the two dputs of path_put
    assert absolute == {"__d_lookup": DEPTH, "dput": DEPTH + 2, "dget": 2, FALLBACK: 1}
    relative = _takes(LINUX_2_6_38, "b/c")
    # RCU-walk to the last component, then nameidata_drop_rcu_last and its path_put
    assert relative == {"nameidata_drop_rcu_last": 1, "dput": 1}
    assert set(DGET_DPUT) >= {src for src in absolute if src != FALLBACK}


def test_2_6_39s_absolute_walk_is_rcu_walk() -> None:
    assert _takes(LINUX_2_6_39, "/a/b/c") == _takes(LINUX_2_6_39, "b/c") == \
        {"nameidata_drop_rcu_last": 1, "dput": 1}


def test_the_absolute_walk_is_recorded_only_for_an_absolute_path() -> None:
    absolute = [cls for cls, _obj in _records("/a/b/c")]
    assert absolute.count(lt.WALK_ABS) == 1 and absolute.count(lt.D_WALK_ABS) == DEPTH
    assert lt.D_WALK not in absolute and absolute[-1] == lt.D_FINAL_REF_ABS
    relative = [cls for cls, _obj in _records("b/c")]
    assert not {lt.WALK_ABS, lt.D_WALK_ABS, lt.D_FINAL_REF_ABS} & set(relative)


@pytest.mark.parametrize("table", [LINUX_6, VERSIONS["4.2"], LINUX_2_6_35, VERSIONS["6.x+cna"]])
def test_every_other_version_maps_the_absolute_walk_as_before(table: dict) -> None:
    filled = with_walk_modes(table)
    assert filled[lt.D_WALK_ABS] == table[lt.D_WALK]
    assert filled[lt.D_FINAL_REF_ABS] == table[lt.D_FINAL_REF]
    assert filled[lt.WALK_ABS] == ()
    assert LockTable(simpy.Environment(), True, table=table).table == filled
    before = {lt.D_WALK_ABS: lt.D_WALK, lt.D_FINAL_REF_ABS: lt.D_FINAL_REF}
    records = _records("/a/b/c")  # (as recorded before the walk modes: no walk_abs)
    old = [(before.get(cls, cls), obj) for cls, obj in records if cls != lt.WALK_ABS]
    assert [rule for cls, _obj in records for rule in filled.get(cls, ())] == \
        [rule for cls, _obj in old for rule in table.get(cls, ())]


def test_the_exim_finding_names_2_6_38_and_its_gain_the_fix() -> None:
    published = PUBLISHED["mosbench:exim"]
    assert published.version == "2.6.38" and published.cores == 40
    assert "Kleen" in published.source and set(published.callers) == set(DGET_DPUT)
    gain = GAINS["mosbench:exim"]
    assert (gain.base, gain.variant, gain.gain) == ("2.6.38", "2.6.39", pytest.approx(0.97))

    def rows(after: float) -> list[dict]:
        return [{"workload": "mosbench:exim", "placement": "one", "kernel": kernel,
                 "workers": [1, 40], "throughput": [1.0, value]}
                for kernel, value in (("linux:2.6.38", 10.0), ("linux:2.6.39", after))]

    (twice,) = judge_gains(rows(19.7))
    assert twice["agrees"] == "yes" and twice["gain"] == pytest.approx(0.97)
    assert judge_gains(rows(10.0 * (1 + 0.97 * GAIN_FACTOR) + 1))[0]["agrees"] == "no"
    assert judge_gains(rows(10.0 * (1 + 0.97 / GAIN_FACTOR) - 1))[0]["agrees"] == "no"
