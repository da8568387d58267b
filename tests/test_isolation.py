"""Two coffers in one process share no mutable kernel state.

The CofferOS claim, checked structurally: walk every object reachable from each
coffer after it has run a program, and show that no mutable object (dict, list,
set, bytearray, numpy array, or a non-frozen object of ours) is reachable from
both. Immutable configuration (frozen dataclasses, read-only mappings) may be
shared, as constants are in a real kernel image.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import io
import types

import numpy as np

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.costs import BlockCoster
from cofferos.workloads import build

MUTABLE_BUILTINS = (dict, list, set, bytearray, np.ndarray)
#: Process-wide memos of pure functions under immutable tables: they hold no guest
#: or kernel state and return the same whether warm or cold (see shared_coster).
PURE_MEMOS = (BlockCoster,)
NOT_STATE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
             types.CodeType, types.FrameType, types.MappingProxyType, enum.Enum)


def _is_frozen(obj: object) -> bool:
    params = getattr(type(obj), "__dataclass_params__", None)
    return bool(params and params.frozen)


def reachable_mutables(root: object) -> dict[int, object]:
    seen: set[int] = set()
    mutables: dict[int, object] = {}
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, NOT_STATE + PURE_MEMOS):
            continue
        seen.add(id(obj))
        ours = type(obj).__module__.startswith("cofferos")
        if isinstance(obj, MUTABLE_BUILTINS) or (ours and not _is_frozen(obj)):
            mutables[id(obj)] = obj
        if isinstance(obj, types.MethodType):
            stack.append(obj.__self__)
            continue
        stack.extend(gc.get_referents(obj))
    return mutables


def _run(name: str, seed: int) -> Coffer:
    coffer = Coffer(CofferConfig(name=name, seed=seed), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(str(build("fileio")), ["fileio"])
    coffer.run()
    return coffer


def test_two_coffers_share_no_mutable_state() -> None:
    first, second = _run("a", 1), _run("b", 2)
    shared = set(reachable_mutables(first)) & set(reachable_mutables(second))
    described = [repr(reachable_mutables(first)[i])[:120] for i in shared]
    assert not shared, described


def test_the_walk_sees_the_kernel_state_and_catches_sharing() -> None:
    first, second = _run("a", 1), _run("b", 2)
    found = reachable_mutables(first)
    kinds = {type(obj).__name__ for obj in found.values()}
    assert {"Task", "FileSystem", "Inode", "FdTable", "AddressSpace", "Cpu"} <= kinds
    # A planted shared object is detected: the check can fail.
    planted: dict[str, int] = {}
    first.stats.unimplemented = second.stats.unimplemented = planted  # type: ignore[assignment]
    shared = set(reachable_mutables(first)) & set(reachable_mutables(second))
    assert id(planted) in shared


def test_state_is_per_coffer() -> None:
    first, second = _run("a", 1), _run("a", 1)
    assert first.fs is not second.fs and first.fs.root is not second.fs.root
    assert first.tasks is not second.tasks
    assert first.stats is not second.stats
    # Same configuration and seed: the same observable history, in separate objects.
    assert first.stats.by_name() == second.stats.by_name()
    assert [t.pid for t in first.tasks.values()] == [t.pid for t in second.tasks.values()]


def test_a_file_written_in_one_coffer_is_invisible_in_another() -> None:
    first, second = _run("a", 1), _run("b", 1)
    first.fs.mkdir(first.fs.root, "only-in-a", 0o755)
    names_a = {name for name, _ in first.fs.root.entries()}
    names_b = {name for name, _ in second.fs.root.entries()}
    assert "only-in-a" in names_a and "only-in-a" not in names_b


def test_frozen_configuration_is_the_only_thing_shared() -> None:
    first, second = _run("a", 1), _run("b", 2)
    assert dataclasses.is_dataclass(first.config) and _is_frozen(first.config)
    assert first.config.kernel_costs is second.config.kernel_costs  # immutable, fine
