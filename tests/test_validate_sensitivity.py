"""``coffersim validate --sensitivity`` judges each varied curve as validate judges it.

A varied row flips on its verdict, its bottleneck or its agreement with the published
finding (MOSBENCH's Exim row is judged on the share of waits charged to dget/dput, so
a constant can flip it without moving the other two), and a published gain is judged
again from both kernels' curves varied by the same constant and factor, the union of
the constants the two kernels take (sim/validate_rejudge.py). The re-judging is
tested on synthetic points; one small run goes through the command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas
import pytest

from cofferos.sim import validate_sensitivity as sens
from cofferos.sim.kernel_locks import HANDOFF_KEY
from cofferos.sim.validate import MOSTLY, ONE, Point, ValidateConfig
from cofferos.sim.validate_gain import GAIN_FACTOR, GAINS, judge_gains
from cofferos.sim.validate_rejudge import constants_to_vary, gain_pairs, rejudge
from cofferos.workloads import compilers_available

EXIM = "mosbench:exim"
OLD, NEW = "linux:2.6.38", "linux:2.6.39"  #: (the Exim gain's base and variant kernels)
TOP = 40  #: the largest worker count of the synthetic curves
CORE_NS = 1e9  #: the synthetic measured window's core time


def _point(kernel: str, workers: int, throughput: float, callers: dict[str, float],
           taken: tuple[str, ...] = ("d_lock",)) -> Point:
    """An Exim point whose waits are all d_lock's, charged to ``callers`` (ns)."""
    wait = sum(callers.values())
    return Point(EXIM, kernel, ONE, workers, throughput, {"d_lock": wait} if wait else {},
                 CORE_NS, False, taken, caller_ns=dict(callers))


#: 2.6.38's waits as the model charges them (dget and dput 80% of them: "mostly"), and a
#: variation where the RCU-walk fallback takes most of them (dget/dput below MOSTLY).
PROFILED = {"dget": 0.4e9, "dput": 0.4e9, "nameidata_drop_rcu_last": 0.2e9}
FALLBACK = {"dget": 0.2e9, "dput": 0.2e9, "nameidata_drop_rcu_last": 0.6e9}


def _curve(kernel: str, rate: float, top: float, callers: dict[str, float]) -> list[Point]:
    return [_point(kernel, 1, rate, {}), _point(kernel, TOP, top, callers)]


def test_a_row_flips_when_only_its_callers_share_falls_below_mostly() -> None:
    share = (FALLBACK["dget"] + FALLBACK["dput"]) / sum(FALLBACK.values())
    assert share < MOSTLY <= (PROFILED["dget"] + PROFILED["dput"]) / sum(PROFILED.values())
    base = _curve(OLD, 1000.0, 2000.0, PROFILED)
    varied = [("d_lock", 2.0, p) for p in _curve(OLD, 1000.0, 1900.0, FALLBACK)]
    varied += [("d_lock", 0.5, p) for p in _curve(OLD, 1000.0, 2100.0, PROFILED)]
    rows, gains = rejudge(base, varied)
    assert gains == []  # (one kernel: no gain to judge)
    doubled, halved = rows
    assert (doubled["verdict"], doubled["bottleneck"]) == (
        doubled["base_verdict"], doubled["base_bottleneck"]) == ("saturates", "d_lock")
    assert (doubled["agrees"], doubled["base_agrees"], doubled["flips"]) == ("no", "yes", True)
    assert (halved["agrees"], halved["flips"]) == ("yes", False)


def test_a_gain_flips_when_it_leaves_the_published_band() -> None:
    published = GAINS[EXIM].gain
    base = [*_curve(OLD, 1000.0, 2000.0, PROFILED),
            *_curve(NEW, 1000.0, 2000.0 * (1 + published), {})]
    inside = 2000.0 * (1 + published * GAIN_FACTOR * 0.9)  # (still in the band)
    outside = 2000.0 * (1 + published * GAIN_FACTOR * 1.5)
    varied = [(c, f, p) for c, f, top in (("zone_lock", 2.0, outside),
                                         ("zone_lock", 0.5, inside))
              for p in (*_curve(OLD, 1000.0, 2000.0, PROFILED), *_curve(NEW, 1000.0, top, {}))]
    rows, gains = rejudge(base, varied)
    assert len(rows) == 4 and not any(r["flips"] for r in rows if r["kernel"] == OLD)
    doubled, halved = gains
    assert (doubled["constant"], doubled["factor"], halved["factor"]) == ("zone_lock", 2.0, 0.5)
    assert (doubled["base_kernel"], doubled["variant_kernel"]) == (OLD, NEW)
    assert doubled["unvaried_gain"] == pytest.approx(published, abs=1e-3)
    assert doubled["gain"] == pytest.approx(published * GAIN_FACTOR * 1.5, abs=1e-3)
    assert (doubled["agrees"], doubled["unvaried_agrees"], doubled["flips"]) == ("no", "yes", True)
    assert (halved["agrees"], halved["flips"]) == ("yes", False)


def test_a_gain_needs_both_kernels_varied_alike() -> None:
    """A setting that varied only one of a gain's kernels gives no gain (it would compare a
    varied run with an unvaried one)."""
    base = [*_curve(OLD, 1000.0, 2000.0, PROFILED), *_curve(NEW, 1000.0, 4000.0, {})]
    varied = [("inode_lock", 2.0, p) for p in _curve(OLD, 1000.0, 1500.0, PROFILED)]
    assert rejudge(base, varied)[1] == []


def test_a_gains_two_kernels_vary_the_union_of_their_constants() -> None:
    taken = {(EXIM, OLD, ONE): {"d_lock", "inode_lock"},
             (EXIM, NEW, ONE): {"d_lock", "inode_sb_list_lock"},
             (EXIM, "linux:2.6.35", ONE): {"dcache_lock"},
             ("fxmark:MWCM", OLD, ONE): {"i_mutex"}}
    assert gain_pairs(list(taken)) == [((EXIM, OLD, ONE), (EXIM, NEW, ONE))]
    names = constants_to_vary(taken)
    union = {"d_lock", "inode_lock", "inode_sb_list_lock"}
    assert names[(EXIM, OLD, ONE)] == names[(EXIM, NEW, ONE)] == union
    assert names[(EXIM, "linux:2.6.35", ONE)] == {"dcache_lock"}
    assert names[("fxmark:MWCM", OLD, ONE)] == {"i_mutex"}
    assert taken[(EXIM, OLD, ONE)] == {"d_lock", "inode_lock"}  # (not changed in place)
    base = [_point(OLD, n, 1.0, {}, ("d_lock", "inode_lock")) for n in (1, TOP)]
    base += [_point(NEW, n, 1.0, {}, ("d_lock", "inode_sb_list_lock")) for n in (1, TOP)]
    config = ValidateConfig(workloads=(EXIM,), series=((OLD, ONE), (NEW, ONE)), workers=(1, TOP))
    jobs = sens._jobs(config, base)
    for kernel in (OLD, NEW):
        assert {(j[6], j[7]) for j in jobs if j[1] == kernel} == {
            (c, f) for c in (*union, HANDOFF_KEY) for f in sens.FACTORS}


@pytest.mark.skipif(not compilers_available(), reason="no C compiler")
def test_the_command_rejudges_the_unlink2_gain_under_every_constant(tmp_path: Path,
                                                                    capsys) -> None:
    """A small run through ``coffersim validate --sensitivity``: unlink2 under 6.x and
    6.x+cna on the finding's four sockets, 1 and 2 workers. Every (constant, factor) of
    the variations gives one judged gain, whose unvaried value is validate's own."""
    from cofferos.cli import main
    from cofferos.cli_validate import SENSITIVITY, SENSITIVITY_GAINS

    out = tmp_path / "validate"
    costs = ("lock.sockets=4",)
    assert main(["validate", "--workloads", "wis:unlink2", "--kernels", "linux,linux:6.x+cna",
                 "--placements", "one", "--workers", "1,2", "--iterations", "20",
                 "--jobs", "1", "--cost", costs[0], "--sensitivity", "--json",
                 "--out", str(out)]) == 0
    decoder = json.JSONDecoder()
    text = capsys.readouterr().out
    rows, end = decoder.raw_decode(text)
    sensitivity, _ = decoder.raw_decode(text[end:].lstrip())
    variations, gains = sensitivity["variations"], sensitivity["gains"]
    (unvaried,) = judge_gains(rows, costs)
    settings = {(r["constant"], r["factor"]) for r in variations}
    assert {(g["constant"], g["factor"]) for g in gains} == settings and len(gains) == len(settings)
    for kernel in ("linux", "linux:6.x+cna"):  # (both kernels varied alike)
        assert {(r["constant"], r["factor"]) for r in variations if r["kernel"] == kernel} \
            == settings
    for gain in gains:
        assert gain["unvaried_gain"] == unvaried["gain"]
        assert gain["unvaried_agrees"] == unvaried["agrees"] != "not judged"
        assert gain["flips"] == (gain["agrees"] != gain["unvaried_agrees"])
    assert all("agrees" in r and "base_agrees" in r for r in variations)
    assert len(pandas.read_csv(out / SENSITIVITY)) == len(variations)
    assert len(pandas.read_csv(out / SENSITIVITY_GAINS)) == len(gains)


def test_the_cross_socket_hand_off_is_varied_only_where_there_are_sockets() -> None:
    from cofferos.sim.topology import REMOTE_KEY, REMOTE_PER_LOCAL

    base = [_point(OLD, n, 1.0, {}) for n in (1, TOP)]
    for costs, handoffs in (((), {HANDOFF_KEY}),
                            (("lock.sockets=4",), {HANDOFF_KEY, REMOTE_KEY})):
        config = ValidateConfig(workloads=(EXIM,), series=((OLD, ONE),), workers=(1, TOP),
                                costs=costs)
        assert {j[6] for j in sens._jobs(config, base)} == {"d_lock", *handoffs}
    local = sens._handoff_cycles((), HANDOFF_KEY)
    assert sens._handoff_cycles((), REMOTE_KEY) == round(local * REMOTE_PER_LOCAL)
    assert sens._handoff_cycles(("lock.handoff=200",), REMOTE_KEY) == 500
    assert sens._handoff_cycles(("lock.handoff=200", "lock.handoff_remote=900"),
                                REMOTE_KEY) == 900
