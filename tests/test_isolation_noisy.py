"""The noisy-neighbor experiment: storms slow a victim only through what its kernel shares."""

from __future__ import annotations

import pytest

from cofferos.sim.isolation import noisy
from cofferos.sim.isolation.common import ExperimentParams

#: Enough neighbours for a shared kernel's locks to queue (the effect grows with them).
CROWD = 8


def _ratio(rows: list[dict], kernel: str, storm: str, measure: str) -> float:
    return next(r["ratio"] for r in rows
                if (r["kernel"], r["storm"], r["measure"]) == (kernel, storm, measure))


def _with(rows: list[dict], kernel: str, storm: str, measure: str) -> float:
    return next(r["with_storm"] for r in rows
                if (r["kernel"], r["storm"], r["measure"]) == (kernel, storm, measure))


@pytest.fixture(scope="module")
def create_storm() -> noisy.ExperimentResult:
    return noisy.run(ExperimentParams(kernels=("linux", "cofferos"), containers=CROWD,
                                      cores=CROWD, options={"storms": "create",
                                                            "victim_iterations": 200}))


def test_a_create_storm_slows_the_victim_only_on_a_shared_kernel(create_storm) -> None:
    rows = create_storm.rows
    linux, cofferos = (_ratio(rows, k, "create", "throughput") for k in ("linux", "cofferos"))
    assert linux < cofferos - 0.1
    assert _ratio(rows, "linux", "create", "p99_us") > _ratio(rows, "cofferos", "create",
                                                               "p99_us")
    assert _with(rows, "linux", "create", "lock_wait_us") > 0
    assert _with(rows, "cofferos", "create", "lock_wait_us") == 0
    assert "slows the victim on linux" in create_storm.finding
    assert "dentry_parent" in rows[0]["storm_locks"]


def test_mount_churn_takes_the_shared_mount_lock_on_linux_only() -> None:
    result = noisy.run(ExperimentParams(kernels=("linux", "cofferos"), containers=CROWD,
                                        cores=CROWD, options={"storms": "mount",
                                                              "victim_iterations": 100}))
    rows = result.rows
    assert _ratio(rows, "linux", "mount", "throughput") < \
        _ratio(rows, "cofferos", "mount", "throughput") - 0.1
    assert not any(r["storm_refused"] for r in rows)  # tmpfs mounts succeed in a coffer
    assert "mount" in rows[0]["storm_locks"]


def test_a_storm_on_locks_the_victim_never_takes_leaves_it_alone() -> None:
    # the network storm takes the net lock; the metadata victim walks paths only
    result = noisy.run(ExperimentParams(kernels=("linux", "cofferos"), containers=CROWD,
                                        cores=CROWD, options={"storms": "net",
                                                              "victim_iterations": 100}))
    rows = result.rows
    assert abs(_ratio(rows, "linux", "net", "throughput")
               - _ratio(rows, "cofferos", "net", "throughput")) < 0.02
    assert "no shared-kernel slowdown" in result.finding


def test_unknown_storm_is_a_clear_error() -> None:
    from cofferos.errors import ConfigError
    with pytest.raises(ConfigError, match="storms"):
        noisy.run(ExperimentParams(options={"storms": "tsunami"}))


def test_figure_is_drawn(create_storm, tmp_path) -> None:
    path = tmp_path / "noisy.png"
    create_storm.draw(str(path))
    assert path.stat().st_size > 0
