"""``coffersim sensitivity``: constants varied, checks compared, conclusions that hold."""

from __future__ import annotations

import json

import pytest

from cofferos.cli import main
from cofferos.errors import ConfigError
from cofferos.sim import kernels, lockversions
from cofferos.sim import sensitivity as s


def test_the_default_constants_are_the_estimates():
    names = {c.name: c for c in s.estimated()}
    assert names["page_cache_miss"].base == 30_000
    assert names["lock.tasklist_lock"].base == lockversions.TASKLIST
    assert "lock.handoff" in names and "arch.io_exit" in names
    # calls that borrow one estimate ("E: as newfstatat") are varied together
    assert names["call.newfstatat+call.stat+call.lstat+call.statx"].keys[0] == "call.newfstatat"
    # measured figures are not varied
    assert not {"entry_exit", "page_fault", "call.mmap", "context_switch"} & set(names)
    # munmap borrows mmap's figure, which is measured: an estimate of its own
    assert "call.munmap" in names


def test_a_scaled_table_is_scaled_inside_and_restored_after():
    locks, archs = dict(lockversions.VERSIONS), dict(kernels.ARCHITECTURES)
    tasklist = s.named("lock.tasklist_lock")
    with s.applied(tasklist, s.Level(factor=2.0)) as overrides:
        holds = [rule.hold for table in lockversions.VERSIONS.values()
                 for rules in table.values() for rule in rules if rule.name == "tasklist_lock"]
        assert set(holds) == {2 * lockversions.TASKLIST, 2 * lockversions.TASKLIST_SCAN}
        assert overrides == ()
    with s.applied(s.named("arch.io_exit"), s.Level(factor=0.5)):
        assert kernels.ARCHITECTURES["vm"].io_exit == round(archs["vm"].io_exit * 0.5)
        assert kernels.ARCHITECTURES["linux"].io_exit == 0  # nothing to scale stays nothing
    assert lockversions.VERSIONS == locks and kernels.ARCHITECTURES == archs
    with s.applied(s.named("page_cache_miss"), s.Level(factor=0.5)) as overrides:
        assert overrides == ("page_cache_miss=15000",)
    with s.applied(s.named("call.unlink+call.unlinkat"), s.Level(value=7)) as overrides:
        assert overrides == ("call.unlink=7", "call.unlinkat=7")


@pytest.mark.parametrize(("text", "message"), [
    ("bogus", "unknown --cost 'bogus'"),
    ("page_cache_miss=x0.5", "expected NAME=LOW:HIGH"),
    ("page_cache_miss=xq:x2", "level 'xq'"),
    ("page_cache_miss=-1:5", "level '-1'"),
])
def test_bad_vary(text, message):
    with pytest.raises(ConfigError, match=message):
        s.parse_vary(text)


def test_a_conclusion_is_the_finding_without_its_numbers():
    assert s.masked("linux 0.39, cofferos 1.00 (misses 1,324 -> 32)") == \
        "linux #, cofferos # (misses # -> #)"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sensitivity")
    assert main(["sensitivity", "noisy-neighbor", "--quick", "--jobs", "1",
                 "--vary", "page_cache_miss=0:60000", "--vary", "call.mount",
                 "--out", str(out)]) == 0
    saved = json.loads((out / "sensitivity.json").read_text())
    assert (out / "manifest.json").is_file() and (out / "sensitivity.txt").is_file()
    return saved


def test_a_level_that_removes_the_effect_flips_its_check(report):
    rows = {(r["constant"], r["level"]): r for r in report["rows"]}
    free = rows[("page_cache_miss", "=0")]  # misses cost nothing: the storm cannot slow
    assert free["flipped"] == ["linux/none noisy.pagecache"]
    assert free["conclusion_changed"]
    assert rows[("page_cache_miss", "=60000")]["flipped"] == []
    lines = {c["conclusion"]: c for c in report["conclusions"]}
    assert lines["linux/none noisy.pagecache"]["flips_under"] == ["page_cache_miss =0"]
    assert lines["cofferos/none noisy.pagecache"]["holds"]


def test_a_constant_the_experiment_never_takes_is_unused(report):
    rows = [r for r in report["rows"] if r["constant"] == "call.mount"]
    assert [r["level"] for r in rows] == ["x0.5", "x2"]
    assert all(r["unused"] and not r["flipped"] and not r["moved"] for r in rows)


def test_the_size_is_stated(report):
    setup = report["configuration"]
    assert (setup["containers"], setup["cores"], setup["kernels"]) == (3, 4,
                                                                       ["linux", "cofferos"])


def test_the_docs_section_is_replaced_and_experiment_report_keeps_it(tmp_path, monkeypatch):
    from cofferos.sim.isolation import report as isolation_report
    from cofferos.sim.isolation.common import ExperimentResult
    from cofferos.sim.sensitivity_report import sections, with_section

    monkeypatch.setattr(isolation_report, "run_experiment", lambda _m, _p: ExperimentResult(
        name="surface", rows=[{"kernel": "linux", "calls": 1}], configuration={},
        finding="none"))

    docs = tmp_path / "isolation.md"
    docs.write_text(with_section("# Isolation\n\nold text\n", "surface", "## Sensitivity: v1"))
    page = with_section(docs.read_text(), "surface", "## Sensitivity: v2")
    assert "v1" not in page and page.count("sensitivity:surface begin") == 1
    assert page.startswith("# Isolation\n\nold text\n")
    docs.write_text(page)
    isolation_report.write_report(tmp_path / "out", docs, ["coffersim", "experiment", "report"],
                                  names=["surface"])
    rewritten = docs.read_text()
    assert "old text" not in rewritten and "## surface" in rewritten  # the page is new ...
    assert sections(rewritten) == sections(page)  # ... but the section is as it was


def test_a_report_section_states_its_command_and_conclusions(report):
    from cofferos.sim.sensitivity_report import markdown

    text = markdown(report, ["coffersim", "sensitivity", "noisy-neighbor", "--quick"])
    assert "Command: `coffersim sensitivity noisy-neighbor --quick`" in text
    assert "| linux/none noisy.pagecache | fail | **does not hold** | page_cache_miss =0 |" \
        in text
    assert "| cofferos/none noisy.pagecache | pass | holds | - |" in text


def test_tradeoffs_verdicts_are_each_configurations_failed_checks():
    from cofferos.sim.isolation.common import ExperimentResult

    def result(linux_failed: str) -> ExperimentResult:
        rows = [{"kernel": "linux", "personalities": "none", "isolation_score": 0.5,
                 "failed_checks": linux_failed},
                {"kernel": "cofferos", "personalities": "none", "isolation_score": 1.0,
                 "failed_checks": ""}]
        return ExperimentResult(name="tradeoff", rows=rows, configuration={},
                                finding="Pareto front: cofferos/none.")

    base, varied = result("fault.panic"), result("fault.panic,noisy.fork")
    assert s.verdicts("tradeoff", base) == {"linux/none failed checks": "fault.panic",
                                            "cofferos/none failed checks": "none"}
    found = s.compare("tradeoff", base, varied)
    assert found["flipped"] == ["linux/none failed checks"]
    assert not found["conclusion_changed"]
    lines = s.conclusions("tradeoff", base, [{"constant": "wakeup", "level": "x2", **found}])
    assert lines[0] == {"conclusion": "linux/none failed checks", "base": "fault.panic",
                        "flips_under": ["wakeup x2"], "holds": False}


def test_the_report_says_which_constants_each_part_read(report):
    reads = report["reads"]["whole run"]
    assert "page_cache_miss" in reads and "call.pread64" in reads  # the pagecache storm
    assert "call.mount" not in reads  # (no mount storm at --quick)
    assert report["configuration"]["parts"] == ["whole run"]


QUICK = {"kernels": ("linux", "cofferos"), "containers": 3, "cores": 4,
         "options": {"storms": "fork", "victim_iterations": "20"}}


@pytest.fixture(scope="module")
def quick_base():
    from cofferos.sim.isolation.common import ExperimentParams
    from cofferos.sim.sensitivity_runs import WHOLE, run_job

    params = ExperimentParams(**QUICK)
    outcome, reads, _seconds = run_job(("noisy-neighbor", params, WHOLE, None, None))
    return params, outcome, reads


@pytest.mark.parametrize("name", ["call.mount", "arch.io_exit", "page_cache_miss"])
def test_a_constant_no_run_reads_changes_nothing_when_run_anyway(quick_base, name):
    """The proof behind the runs sensitivity leaves out, checked: a constant never read
    (no mount, no page-cache miss in a fork storm), or read only where it is 0 (a VM's
    I/O exit on linux and cofferos), run at x2 anyway gives the base's rows bit for bit."""
    from cofferos.sim import costreads
    from cofferos.sim.sensitivity_runs import WHOLE, changes, run_job

    params, base, reads = quick_base
    constant, level = s.named(name), s.Level(factor=2.0)
    assert costreads.untouched(constant.keys, changes(constant, level), reads)
    varied, none, _seconds = run_job(("noisy-neighbor", params, WHOLE, constant, level))
    assert none is None and varied.rows == base.rows and varied.finding == base.finding


def test_a_constant_a_run_reads_is_run(quick_base):
    from cofferos.sim import costreads
    from cofferos.sim.sensitivity_runs import changes

    _params, _base, reads = quick_base
    for name in ("call.wait4", "lock.tasklist_lock", "wakeup"):  # what a fork storm takes
        constant = s.named(name)
        assert not costreads.untouched(constant.keys, changes(constant, s.Level(factor=2.0)),
                                       reads), name
    # the 0 of an architecture constant stays 0 when scaled, not when set to a value
    io_exit = s.named("arch.io_exit")
    assert costreads.untouched(io_exit.keys, changes(io_exit, s.Level(factor=0.5)), reads)
    assert not costreads.untouched(io_exit.keys, changes(io_exit, s.Level(value=9)), reads)


def test_only_the_parts_that_read_a_constant_run_again(monkeypatch):
    """A tradeoff run is its checked experiments per kernel and its throughputs: a
    variation reruns the parts whose reads it changes, the others are the base's."""
    from cofferos.sim import sensitivity_runs as runs
    from cofferos.sim.isolation.common import ExperimentParams

    ran: list[tuple] = []
    parts = [("a",), ("b",)]
    reads = {("a",): {"wakeup": {1500}}, ("b",): {"page_cache_miss": {30_000}}}

    def job(job):
        _name, _params, part, constant, level = job
        ran.append((part, constant and f"{constant.name} {level.label}"))
        return (f"{part[0]}{'*' if constant else ''}", reads[part] if constant is None
                else None, 1.0)

    monkeypatch.setattr(runs, "parts_of", lambda _n, _p: parts)
    monkeypatch.setattr(runs, "run_job", job)
    class Found(dict):
        shown: list = []

    monkeypatch.setattr(runs, "assemble", lambda _n, _p, found: Found(found))
    monkeypatch.setattr(runs, "compare", lambda _n, base, varied: {
        "flipped": [k for k in base if base[k] != varied[k]], "conclusion_changed": False,
        "moved": [], "largest_move": None, "largest_change": 0.0, "same_rows": False})
    monkeypatch.setattr(runs, "verdicts", lambda _n, result: result)
    monkeypatch.setattr(runs, "plain_rows", lambda rows: [])
    plan = [(s.named("wakeup"), (s.Level(factor=2.0),)),
            (s.named("call.mount"), (s.Level(factor=2.0),))]
    _base, rows, what = runs.run_sensitivity("tradeoff", ExperimentParams(), plan)
    assert ran == [(("a",), None), (("b",), None), (("a",), "wakeup x2")]
    assert rows[0]["flipped"] == [("a",)] and rows[0]["parts_run"] == ["a"]
    assert rows[1]["unused"] and rows[1]["parts_run"] == []
    assert what["part_runs"] == 1


def test_a_tradeoff_check_split_by_kernel_is_the_check_of_both():
    """tradeoff's parts run each checked experiment per kernel: the checks are the same
    as those of one run of both kernels (nothing an experiment finds for one kernel
    depends on another's run)."""
    from dataclasses import replace

    from cofferos.sim.isolation import tradeoff
    from cofferos.sim.isolation.common import ExperimentParams

    params = ExperimentParams(**QUICK)
    both = tradeoff._run_check(replace(params, personalities=((),)), "noisy")
    split = {}
    for kernel in params.kernels:
        split.update(tradeoff.run_part(replace(params, personalities=((),)),
                                       (tradeoff.CHECK, "noisy", kernel)))
    assert split == both and set(both) == {("linux", "none"), ("cofferos", "none")}


def test_recording_leaves_the_costs_it_copies_as_they_were():
    """A recording copy reads the shared frozen costs field by field: taking their
    ``__dict__`` gave them a dict every coffer sharing them then reached
    (test_isolation's walk found it after a sensitivity run in the same process)."""
    import gc

    from cofferos.sim import costreads
    from cofferos.sim.costmodel import KernelCosts

    costs = KernelCosts()
    before = sorted(type(r).__name__ for r in gc.get_referents(costs))
    with costreads.recording():
        copy = costreads.costs_for(costs)
        assert copy.wakeup == costs.wakeup and isinstance(copy, costreads.RecordingCosts)
    assert sorted(type(r).__name__ for r in gc.get_referents(costs)) == before
