"""The exhaustion experiment, and the disk space it needs: a quota per coffer, a host pool."""

from __future__ import annotations

import errno
import stat

import pytest

from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.mm import MemoryAccount
from cofferos.sim.isolation import exhaustion
from cofferos.sim.isolation.common import ExperimentParams

QUOTA = 100
SMALL = {"threads_max": 32, "memory_mb": 1024, "disk_mb": 8, "hold_ms": 100}


def _file(fs: FileSystem):
    return fs.sb.new_inode(stat.S_IFREG | 0o644)


def test_a_write_past_the_disk_quota_is_enospc_and_unlink_gives_it_back() -> None:
    fs = FileSystem()
    fs.sb.space = MemoryAccount(QUOTA)
    inode = _file(fs)
    assert inode.write(0, b"x" * QUOTA) == QUOTA
    with pytest.raises(FsError) as info:
        inode.write(QUOTA, b"y")
    assert info.value.errno == errno.ENOSPC
    inode.truncate(QUOTA // 2)
    assert fs.sb.space.used_bytes == QUOTA // 2
    inode.drop_link()  # the last name
    assert fs.sb.space.used_bytes == 0


def test_coffers_on_one_host_disk_fill_it_for_each_other() -> None:
    disk = MemoryAccount(QUOTA)
    first, second = FileSystem(), FileSystem()
    for fs in (first, second):
        fs.sb.space = MemoryAccount(QUOTA, pool=disk)  # each quota at the disk's size
    _file(first).write(0, b"x" * QUOTA)
    with pytest.raises(FsError) as info:
        _file(second).write(0, b"y")
    assert info.value.errno == errno.ENOSPC


@pytest.fixture(scope="module")
def result() -> exhaustion.ExperimentResult:
    return exhaustion.run(ExperimentParams(
        kernels=("linux", "cofferos"), containers=2,
        options={**SMALL, "attacks": "fork,memory,disk"}))


def _row(rows: list[dict], kernel: str, attack: str, personality: str = "none") -> dict:
    return next(r for r in rows if (r["kernel"], r["attack"]) == (kernel, attack)
                and (r["personality"] == personality or personality in r["personality"]))


@pytest.mark.parametrize(("attack", "refusal"), [("fork", "EAGAIN"), ("memory", "ENOMEM"),
                                                 ("disk", "ENOSPC")])
def test_exhaustion_reaches_the_others_only_through_a_shared_pool(result, attack: str,
                                                                  refusal: str) -> None:
    linux, cofferos = _row(result.rows, "linux", attack), _row(result.rows, "cofferos", attack)
    assert linux["outcome"] == "bystander failed"
    assert cofferos["outcome"] == "contained"
    assert cofferos["attacker_stopped_by"] == refusal  # its own limit
    assert f"{attack} on linux" in result.finding


def test_the_agent_quota_contains_the_attack_earlier(result) -> None:
    for attack in ("fork", "memory"):
        bare, agent = _row(result.rows, "linux", attack), _row(result.rows, "linux", attack,
                                                               "agent")
        assert agent["outcome"] == "contained"
        assert int(agent["attacker_got"].split()[0]) < int(bare["attacker_got"].split()[0])
    assert _row(result.rows, "linux", "disk", "agent")["attacker_stopped_by"] == "EDQUOT"


def test_a_bystander_failing_for_its_own_reason_is_reported_failed() -> None:
    # One process allowed: the bystander's own fork fails, whatever container 0 does.
    rows = exhaustion.run(ExperimentParams(
        kernels=("cofferos",), containers=2, personalities=(("agent:max_processes=1",),),
        options={**SMALL, "attacks": "files"})).rows
    assert rows[0]["attacker_stopped_by"] == "EMFILE"
    assert rows[0]["outcome"] == "bystander failed"
    assert "fork failed" in rows[0]["bystander_failure"]


def test_figure_is_drawn(result, tmp_path) -> None:
    path = tmp_path / "exhaustion.png"
    result.draw(str(path))
    assert path.stat().st_size > 0


@pytest.mark.parametrize("attack", ["fork", "memory", "disk"])
def test_the_operators_limits_contain_what_dockers_defaults_do_not(result, attack) -> None:
    """linux+limits: pids.max, memory.max and a storage quota at each container's share;
    the attack stops at the container's own limit and the bystanders keep theirs."""
    docker, operator = _row(result.rows, "linux", attack), _row(result.rows, "linux+limits",
                                                                attack)
    assert docker["outcome"] == "bystander failed"
    assert operator["outcome"] == "contained" and operator["bystanders_failed"] == 0
    assert int(operator["attacker_got"].split()[0]) < int(docker["attacker_got"].split()[0])


def test_only_a_kernel_that_takes_from_the_host_runs_with_an_operators_limits() -> None:
    assert exhaustion.variants("linux") == ["linux", "linux+limits"]
    assert exhaustion.variants("sandbox") == ["sandbox", "sandbox+limits"]  # host RAM, disk
    assert exhaustion.variants("cofferos") == ["cofferos"]  # its reservations already
    assert exhaustion.variants("linux", ("docker",)) == ["linux"]
    assert exhaustion.base_kernel("linux+limits") == "linux"


def test_limits_setting_is_checked() -> None:
    with pytest.raises(exhaustion.ConfigError, match="limits: unknown careless"):
        exhaustion.check(ExperimentParams(kernels=("linux",), options={"limits": "careless"}))
