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


@pytest.mark.parametrize("skip", [True, False])
def test_levels_after_an_unchanged_first_one_run_only_when_asked(monkeypatch, skip):
    from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult

    ran: list[str] = []

    def same(job):
        ran.append("base" if job[2] is None else f"{job[2].name} {job[3].label}")
        return ExperimentResult(name="noisy-neighbor", rows=[],
                                configuration={}, finding="f")

    monkeypatch.setattr(s, "run_varied", same)
    plan = [(s.named("wakeup"), (s.Level(factor=0.5), s.Level(factor=2.0)))]
    _base, rows = s.run_sensitivity("noisy-neighbor", ExperimentParams(), plan,
                                    skip_untaken=skip)
    assert ran == (["base", "wakeup x0.5"] if skip else ["base", "wakeup x0.5", "wakeup x2"])
    assert [r["level"] for r in rows] == ["x0.5", "x2"] and all(r["unused"] for r in rows)
