"""Lab 5's reference solution: 2.6.35's global dcache_lock made per-dentry (2.6.38)."""

from __future__ import annotations

import dataclasses

from cofferos.sim.lockversions import OBJECT, VERSIONS, Table

BASE: Table = VERSIONS["2.6.35"]
#: Every dcache_lock taken becomes the d_lock of the dentry recorded (the parent's),
#: as Nick Piggin's VFS scalability series did in 2.6.38.
TABLE: Table = {
    cls: tuple(dataclasses.replace(rule, name="d_lock", scope=OBJECT,
                                   source=f"{rule.source} (2.6.38: d_lock)")
               if rule.name == "dcache_lock" else rule for rule in rules)
    for cls, rules in BASE.items()
}
