"""Hostile timeouts (issue #13, item 1): deadlines saturate at KTIME_MAX as Linux's do.

``hardening/timeouts.c`` gives every timed call absurd and invalid timeouts; it
must print what the same binary prints natively. ``hardening/timewarp.c`` is an
attacker and a victim in two coffers run together, under both multi-coffer
drivers (:func:`~cofferos.coffers.functional_machine.run_coffers` and the timing machine's
``run_mix`` under linux and cofferos): the attacker's sleep "for ever" must not
oops the victim, and even a clock moved to the latest time a timer can fire
leaves the victim's clocks, stat and sysinfo working.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.functional_machine import run_coffers
from cofferos.coffers.ktime import (
    KTIME_MAX,
    TIME64_MAX,
    InvalidTime,
    finite_deadline,
    ktime_add_safe,
    ns_to_timespec,
    pack_timespec,
    timespec_to_ktime,
)
from cofferos.coffers.network import VirtualNetwork
from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.machine import Machine
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "hardening"
PORT = "7300"
VICTIM_ADDRESS = "10.0.0.1"  #: run_mix gives container 0 this address


def test_timespec_to_ktime_saturates_and_checks_nsec() -> None:
    assert timespec_to_ktime(1, 5) == 1_000_000_005
    assert timespec_to_ktime(KTIME_MAX // 10**9, 0) == KTIME_MAX  # KTIME_SEC_MAX saturates
    assert timespec_to_ktime((1 << 63) - 1, 999_999_999) == KTIME_MAX
    for seconds, ns in ((0, 10**9), (0, -1), (-1, 0)):
        with pytest.raises(InvalidTime):
            timespec_to_ktime(seconds, ns)
    assert ktime_add_safe(KTIME_MAX - 1, 5) == KTIME_MAX
    assert finite_deadline(KTIME_MAX) is None and finite_deadline(5) == 5


def test_packed_times_saturate_instead_of_overflowing() -> None:
    assert ns_to_timespec(10**40) == (TIME64_MAX, 999_999_999)
    assert len(pack_timespec(10**40)) == 16


@needs_gcc
def test_timed_calls_with_huge_timeouts_match_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "timeouts.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_native(binary, cwd=workdir)
    coffer = run_in_coffer(binary)
    assert coffer.result is not None and coffer.result.oopses == []
    assert native.status == 0, native.stderr
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.status == native.status


def _pair(binary: str, mode: str) -> tuple[list[Coffer], list[io.BytesIO]]:
    network = VirtualNetwork()
    coffers, outs = [], []
    for name, address, args in (("victim", VICTIM_ADDRESS, ["victim", PORT]),
                                ("attacker", "10.0.0.2",
                                 ["attacker", VICTIM_ADDRESS, PORT, mode])):
        out = io.BytesIO()
        coffer = Coffer(CofferConfig(name=name, address=address, cwd="/tmp"), network=network,
                        stdin=io.BytesIO(), stdout=out, stderr=out)
        coffer.spawn(binary, ["timewarp", *args])
        coffers.append(coffer)
        outs.append(out)
    return coffers, outs


VICTIM_AT_THE_END_OF_TIME = (b"victim: clocks read, monotonic near KTIME_MAX\n"
                             b"victim: fstat 0, statx 0, sysinfo 0, mtime after boot 1\n")


@pytest.fixture(scope="module")
def timewarp(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(compile_guest(GUESTS / "timewarp.c", tmp_path_factory.mktemp("timewarp")))


@needs_gcc
def test_a_sleep_for_ever_next_door_does_not_oops_the_victim(timewarp: str) -> None:
    """The issue's attack: the sleep never ends (as in Linux), so nothing moves any clock;
    both wait for ever and the driver ends them as deadlocked, the victim without an oops."""
    coffers, _ = _pair(timewarp, "forever")
    victim, attacker = run_coffers(coffers)
    assert victim.oopses == [] and attacker.oopses == []
    assert victim.deadlocked and attacker.deadlocked
    assert max(c.monotonic_ns() for c in coffers) < 10**9  # nobody jumped to 2^63 s


@needs_gcc
def test_the_latest_clock_an_attacker_can_reach_leaves_the_victim_working(timewarp: str) -> None:
    coffers, outs = _pair(timewarp, "latest")
    victim, attacker = run_coffers(coffers)
    assert outs[0].getvalue() == VICTIM_AT_THE_END_OF_TIME
    assert outs[1].getvalue() == b"attacker: connected\n"
    assert victim.exit_code == 0 and attacker.exit_code == 0
    assert victim.oopses == [] and attacker.oopses == []


@needs_gcc
@pytest.mark.parametrize("kernel", ["linux", "cofferos"])
@pytest.mark.parametrize("mode", ["forever", "latest"])
def test_the_timing_machine_keeps_the_victim_safe(timewarp: str, kernel: str, mode: str) -> None:
    machines: list[Machine] = []
    specs = [ContainerSpec(timewarp, ("victim", PORT)),
             ContainerSpec(timewarp, ("attacker", VICTIM_ADDRESS, PORT, mode))]
    report = run_mix(specs, kernel=kernel, cores=2, base=CofferConfig(cwd="/tmp"),
                     prepare=machines.append)
    for coffer in machines[0].coffers:
        assert coffer.result().oopses == [], coffer.result().oopses[0]
    victim, attacker = report.containers
    if mode == "latest":
        assert victim.stdout == VICTIM_AT_THE_END_OF_TIME
        assert victim.exit_code == 0 and attacker.exit_code == 0
    else:  # both wait for ever: the machine ends them, nobody's clock moved
        assert victim.stdout == b"" and report.simulated_seconds < 1
