"""Tests of the validation workloads and ``coffersim validate`` (sim/validate.py).

The FxMark guest prints and exits the same natively and in a coffer; on the timing
machine, private-path FxMark workers scale as containers on cofferos, creates in one
shared directory do not scale on one Linux and name the directory's lock, and the
verdicts come from the kernel version tables and the measured curve only: swapping
a table's rule changes the verdict, renaming the workload does not.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cofferos.coffers import locktrace as lt
from cofferos.sim import lockversions, validate
from cofferos.sim.lockalgo import RCU
from cofferos.sim.validate import MANY, ONE, Point, rows_for, run_point
from cofferos.sim.validate_published import FITTED_ON, PUBLISHED, SCALES, UNJUDGED
from cofferos.workloads import compilers_available
from cofferos.workloads.build import resolve
from tests.support import run_in_coffer, run_native

pytestmark = pytest.mark.skipif(not compilers_available(), reason="no C compiler")
ITERATIONS = 60  #: per worker: enough for a window after the warm-up quarter
FEW = 8  #: workers of the scaling tests (quick sizes)
#: Workers of the tests of a serialized lock: mutexes and rw-semaphores spin on a running
#: owner (optimistic spinning), so a hand-off costs a cache line, not a sleep and a
#: wake-up, and 8 workers on one directory or one mmap_lock still get ~90% of linear
#: (and at 40, 60 operations each, the free-directory run meets the parent dentry's lockref).
CONTENDED = 24
FAULTS = 150  #: page faults per page_fault2 worker


def _speedup(workload: str, kernel: str, placement: str,
             workers: int = FEW) -> tuple[float, Point]:
    one = run_point(workload, kernel, placement, 1, ITERATIONS)
    many = run_point(workload, kernel, placement, workers, ITERATIONS)
    return many.throughput / (workers * one.throughput), many


@pytest.mark.parametrize("bench", ["MWCM", "DRBH", "MWRM", "DWTL"])
def test_the_fxmark_guest_matches_its_native_run(bench: str, tmp_path: Path) -> None:
    path = resolve("@fxmark")
    args = [bench, "3", "20", str(tmp_path / "root")]
    native = run_native(path, args)
    simulated = run_in_coffer(path, [bench, "3", "20", "/tmp/fxmark"])
    assert native.status == simulated.status == 0, (native.stderr, simulated.stderr)
    expected = f"fxmark {bench}: 3 workers x 20 operations\n".encode()
    assert simulated.stdout == native.stdout == expected


@pytest.mark.parametrize("test", ["open3", "unlink2", "context_switch1", "mmap1", "page_fault2"])
def test_the_wis_guest_matches_its_native_run(test: str, tmp_path: Path) -> None:
    path = resolve("@wis")
    native = run_native(path, [test, "3", "20", str(tmp_path / "root")])
    simulated = run_in_coffer(path, [test, "3", "20", "/tmp/wis"])
    assert native.status == simulated.status == 0, (native.stderr, simulated.stderr)
    expected = f"wis {test}: 3 workers x 20 operations\n".encode()
    assert simulated.stdout == native.stdout == expected


def test_processes_switching_in_pairs_scale() -> None:
    """context_switch1 (process mode): the kernel test robot saw 81-88% of linear."""
    ratio, point = _speedup("wis:context_switch1", "linux", ONE)
    assert ratio >= validate.SCALES_AT and not point.failed


def test_threads_mapping_memory_wait_for_their_process_mmap_lock() -> None:
    """mmap1 (threads of one process): the kernel test robot's profile puts nearly all
    cycles of 48 threads spinning on the mmap_lock's write side (rwsem_optimistic_spin);
    as containers each has its own and scales. (Its threads' start barrier once
    deadlocked on the timing machine.)"""
    ratio, point = _speedup("wis:mmap1", "linux", ONE, CONTENDED)
    assert ratio < validate.SCALES_AT and not point.failed, ratio
    assert validate.bottleneck(point) == "mmap_lock"
    assert validate.spinning(point) > 0.5  # spinning, as the robot's profile shows
    ratio, point = _speedup("wis:mmap1", "cofferos", MANY)
    assert ratio >= validate.SCALES_AT and not point.lock_wait_ns, ratio


def test_page_faults_wait_for_the_zone_lock_on_one_linux_only() -> None:
    """page_fault2: the kernel test robot's 52 processes spun on the zone lock most
    (LKP_PAGE_FAULT2); the model's faults take it once per per-CPU batch, and one Linux
    shares it (one NUMA node) where each coffer's kernel has its own allocator."""
    # (150 faults a worker: more than two per-CPU batches, 63 pages each, in its window)
    point = run_point("wis:page_fault2", "linux", ONE, CONTENDED, FAULTS)
    assert validate.bottleneck(point) == "zone_lock" and not point.failed
    assert point.spun_ns["zone_lock"] == point.lock_wait_ns["zone_lock"]  # a spinlock
    point = run_point("wis:page_fault2", "cofferos", MANY, CONTENDED, FAULTS)
    assert "zone_lock" not in point.lock_wait_ns and not point.failed


def test_a_bottleneck_only_finding_judges_the_lock_and_not_the_curve() -> None:
    curve = [(1, 100.0, {}), (8, 790.0, {"zone_lock": 2e5})]  # scales, zone_lock 2.5%...
    rows = rows_for([Point("wis:page_fault2", "linux", ONE, n, t, w, 1e6 * n, False)
                     for n, t, w in curve])
    assert (rows[0]["verdict"], rows[0]["agrees"]) == (SCALES, "no")  # ...not a bottleneck
    curve = [(1, 100.0, {}), (8, 300.0, {"zone_lock": 4e6, "lru_lock": 1e6})]
    rows = rows_for([Point("wis:page_fault2", "linux", ONE, n, t, w, 1e6 * n, False)
                     for n, t, w in curve])
    assert (rows[0]["bottleneck"], rows[0]["agrees"]) == ("zone_lock", "yes")


def test_the_fxmark_guest_refuses_an_unknown_benchmark() -> None:
    outcome = run_in_coffer(resolve("@fxmark"), ["MXYZ"])
    assert outcome.status == 2 and b"usage: fxmark BENCH" in outcome.stderr


def test_private_paths_scale_as_containers_on_cofferos() -> None:
    ratio, point = _speedup("fxmark:DWOL", "cofferos", MANY)
    assert ratio >= 0.9, ratio  # within 10% of linear
    assert not point.failed and not point.lock_wait_ns


def test_creates_in_one_directory_do_not_scale_and_name_its_lock() -> None:
    ratio, point = _speedup("fxmark:MWCM", "linux", ONE, CONTENDED)
    assert ratio < validate.SCALES_AT, ratio
    assert validate.bottleneck(point) == "i_rwsem"


def test_marks_of_a_multi_process_coffer_keep_their_own_times() -> None:
    """Regression: a slice's marks were restamped against the clock base another task of
    the coffer had set meanwhile, collapsing each worker's marks onto slice starts."""
    import cofferos.sim.validate as v

    seen: list[object] = []
    original = v.run_mix

    def spy(*args: object, **kwargs: object) -> object:
        prepare = kwargs["prepare"]

        def both(machine: object) -> None:
            prepare(machine)  # type: ignore[operator]
            seen.append(machine)
        kwargs["prepare"] = both
        return original(*args, **kwargs)  # type: ignore[arg-type]

    pytest.MonkeyPatch().setattr(v, "run_mix", spy)
    try:
        run_point("fxmark:MRPL", "linux", ONE, 4, ITERATIONS)
    finally:
        v.run_mix = original
    by_worker: dict[str, list[int]] = {}
    for stamp, label in seen[0].coffers[0].stats.ops:  # type: ignore[attr-defined]
        by_worker.setdefault(label, []).append(stamp)
    assert len(by_worker) == 4
    for stamps in by_worker.values():
        assert len(set(stamps)) == len(stamps) == ITERATIONS


def test_the_verdict_follows_the_version_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """MWCM is serialized by the table's directory lock: make the locks a create takes
    (the directory's i_mutex, its d_lock, the inode list lock) free RCU reads in the
    table and the same workload scales."""
    ratio, point = _speedup("fxmark:MWCM", "linux:4.2", ONE, CONTENDED)
    assert ratio < validate.SCALES_AT and validate.bottleneck(point) == "i_mutex"
    for cls in (lt.DIR_EXCL, lt.D_ALLOC, lt.D_DELETE, lt.SB_INODES):
        free = (lockversions.LockRule(cls, RCU, lockversions.OBJECT, 1, "test", shared=True),)
        monkeypatch.setitem(lockversions.LINUX_4_2, cls, free)
    ratio, _point = _speedup("fxmark:MWCM", "linux:4.2", ONE, CONTENDED)
    assert ratio >= validate.SCALES_AT, ratio


def test_truncates_wait_for_the_memory_cgroups_page_counter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DWTL: every page a truncate frees is uncharged from the cgroup's page counter with
    an atomic (uncharge_batch), and one container's workers share one cgroup: without the
    table's uncharge rule the same truncates scale."""
    ratio, point = _speedup("fxmark:DWTL", "linux:4.2", ONE, CONTENDED)
    assert ratio < validate.SCALES_AT and validate.bottleneck(point) == "page_counter"
    _ratio, point = _speedup("fxmark:DWTL", "cofferos", MANY, CONTENDED)
    assert "page_counter" not in point.lock_wait_ns  # (each coffer its own cgroup)
    monkeypatch.setitem(lockversions.LINUX_4_2, lt.PAGE_UNCHARGE, ())
    ratio, point = _speedup("fxmark:DWTL", "linux:4.2", ONE, CONTENDED)
    assert ratio >= validate.SCALES_AT and "page_counter" not in point.lock_wait_ns, ratio


def test_a_finding_that_scales_up_to_a_core_count_is_read_at_the_runs_largest() -> None:
    """DWAL scales to 50 cores and not beyond: a curve that scales agrees at 40 workers
    and disagrees at 80; one that saturates disagrees at 40."""
    def row(top: int, throughput: float) -> dict[str, object]:
        return rows_for([Point("fxmark:DWAL", "linux:4.2", ONE, n, t, {}, 1e6 * n, False)
                         for n, t in ((1, 100.0), (top, throughput))])[0]

    assert PUBLISHED["fxmark:DWAL"].scales_to == 50
    assert (row(40, 3900.0)["published"], row(40, 3900.0)["agrees"]) == (SCALES, "yes")
    assert row(40, 1000.0)["agrees"] == "no"
    assert row(80, 7800.0)["agrees"] == "no"


def test_the_verdict_never_reads_the_workload_name() -> None:
    points = [Point("fxmark:MWCM", "linux:4.2", ONE, n, t, w, 1e6 * n, False)
              for n, t, w in ((1, 100.0, {}), (8, 120.0, {"i_mutex": 5e6}))]
    renamed = [replace(p, workload="fxmark:MRPL") for p in points]
    row, other = rows_for(points)[0], rows_for(renamed)[0]
    assert (row["verdict"], row["bottleneck"]) == (other["verdict"], other["bottleneck"])
    assert row["agrees"] == "yes" and other["agrees"] == "no"  # judged on its own finding


def test_no_constant_was_fitted_to_a_judged_result() -> None:
    assert not set(FITTED_ON) & set(PUBLISHED)
    for finding in PUBLISHED.values():
        assert finding.version in lockversions.VERSIONS
        for lock in finding.bottleneck:  # each named bottleneck is a lock of that version
            assert any(rule.name == lock for rules in lockversions.VERSIONS[finding.version]
                       .values() for rule in rules), lock


def test_only_the_judge_reads_the_published_results() -> None:
    sim = Path(validate.__file__).parent
    readers = [p.name for p in sim.rglob("*.py")
               if "validate_published" in p.read_text() and p.name != "validate_published.py"]
    assert readers == ["validate.py"]
    assert PUBLISHED["fxmark:MRPL"].verdict == SCALES


def test_sensitivity_scales_one_lock_and_varies_only_what_a_run_took() -> None:
    from cofferos.sim import validate_sensitivity as sens
    from cofferos.sim.kernel_locks import HANDOFF_KEY

    tables = sens._scaled_tables("i_mutex", 2.0)
    rule = tables["4.2"][lt.DIR_EXCL][0]
    assert rule.hold == 2 * lockversions.LINUX_4_2[lt.DIR_EXCL][0].hold
    assert tables["4.2"][lt.RENAME] == lockversions.LINUX_4_2[lt.RENAME]
    assert lockversions.LINUX_4_2[lt.DIR_EXCL][0].hold == lockversions.DIR_CHANGE  # untouched
    base = [Point("fxmark:MWCM", "linux:4.2", ONE, n, 1.0, {}, 1.0, False, ("i_mutex", "x"))
            for n in (1, 8)]
    config = validate.ValidateConfig(workloads=("fxmark:MWCM",), workers=(1, 8))
    constants = {(job[6], job[7]) for job in sens._jobs(config, base)}
    assert constants == {(c, f) for c in ("i_mutex", HANDOFF_KEY) for f in sens.FACTORS}


def test_plot_draws_a_validate_directory_again(tmp_path: Path, capsys) -> None:
    """``coffersim plot DIR`` on what ``coffersim validate --out DIR`` wrote: the curves'
    figure, drawn from the rows there (it said "unknown experiment 'validate'")."""
    from cofferos.cli import main

    out = tmp_path / "validate"
    assert main(["validate", "--workloads", "fxmark:MRPL", "--kernels", "cofferos",
                 "--placements", "many", "--workers", "1,2", "--iterations", "20",
                 "--out", str(out)]) == 0
    (out / "validate.png").unlink()
    capsys.readouterr()
    assert main(["plot", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "validate.png")
    assert (out / "validate.png").stat().st_size > 0


def test_ci_runs_the_quick_validation_and_it_agrees(tmp_path: Path, capsys) -> None:
    """``coffersim validate --quick`` is the size issue #15 gives CI: the suite (which CI
    runs) runs it, and each finding it judges (MRPL, MWCM, DWOM, DWOL on linux:4.2)
    agrees, verdict and bottleneck."""
    from cofferos.cli import main

    assert main(["validate", "--quick", "--json", "--jobs", "1",
                 "--out", str(tmp_path / "quick")]) == 0
    rows = json.loads(capsys.readouterr().out)
    judged = {r["workload"]: r["agrees"] for r in rows if r["agrees"] != UNJUDGED}
    assert judged == dict.fromkeys(validate.QUICK_WORKLOADS, "yes"), judged


def test_the_exim_like_guest_matches_its_native_run(tmp_path: Path) -> None:
    path = resolve("@mosbench")
    native = run_native(path, ["exim", "3", "5", str(tmp_path / "root")])
    simulated = run_in_coffer(path, ["exim", "3", "5", "/tmp/mosbench"])
    assert native.status == simulated.status == 0, (native.stderr, simulated.stderr)
    assert simulated.stdout == native.stdout == b"mosbench exim: 3 workers x 5 messages\n"
    log = (tmp_path / "root" / "log" / "mainlog").read_text().splitlines()
    assert len(log) == 2 * 15  # (each message: "<=" received, "=>" delivered)
    for spool in ("input", "msglog"):  # (62 split spool subdirectories, left empty)
        subdirs = list((tmp_path / "root" / "spool" / spool).iterdir())
        assert len(subdirs) == 62 and not [f for d in subdirs for f in d.iterdir()]
    assert (tmp_path / "root" / "mail" / "2").read_text().count("Subject:") == 5


def test_the_exim_like_guest_talks_smtp_to_its_client_over_tcp() -> None:
    """@mosbench exim runs MOSBENCH's load generator too (smtpbm: a TCP connection of
    10 messages, 8 lines written a message), so each message costs its SMTP exchange:
    the client's and the receiving process's socket calls and their wake-ups."""
    path = resolve("@mosbench")
    simulated = run_in_coffer(path, ["exim", "1", "20", "/tmp/mosbench"])
    assert simulated.status == 0, simulated.stderr
    assert simulated.result is not None
    calls = simulated.result.syscalls
    assert calls["connect"] == calls["accept"] == 2  # (20 messages, 10 a connection)
    assert calls["write"] >= 20 * (8 + 4)  # (client lines, server replies, spool files)


def test_spinning_is_the_waits_whose_waiter_spun() -> None:
    """A row's spinning share is what the machine logged as spun (a ticket spinlock's
    waits, and a mutex's whose waiter spun on its running owner), not the lock's kind."""
    point = Point("mosbench:exim", "linux:2.6.35", ONE, 40, 1.0,
                  {"dcache_lock": 3e6, "i_mutex": 5e6}, 1e7, False,
                  spun_ns={"dcache_lock": 3e6, "i_mutex": 4e6})
    assert validate.spinning(point) == pytest.approx(0.7)
    assert validate.waits(point) == "i_mutex 50%, dcache_lock 30%"
    assert validate.spinning(replace(point, spun_ns={})) == 0.0
