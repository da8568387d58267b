"""``coffersim calibrate``: simulated beside native beside published, cost profiles, fits.

Native figures are real time on whatever host runs the tests, so nothing here
asserts on their size: only that the same binary ran natively, every op has a
positive figure, and the host's CPU model is the one /proc/cpuinfo names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cofferos.calibration import host_cpu_model
from cofferos.cli import main
from cofferos.coffers.coffer import CofferConfig
from cofferos.workloads.calibration import CALIBRATION_OPS

OP_NAMES = [op.name for op in CALIBRATION_OPS]
FEW = "10"  #: iterations: every op runs, in seconds of host time


def test_native_runs_the_same_binary_on_the_host(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--native", "--iterations", FEW, "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["native"] == {"cpu_model": host_cpu_model(), "iterations": int(FEW)}
    assert [op["op"] for op in result["ops"]] == OP_NAMES
    for op in result["ops"]:
        assert op["native_us"] > 0 and op["simulated_us"] is not None, op
        assert op["native_ratio"] == pytest.approx(op["native_us"] / op["reference_us"])


def test_native_table_has_both_columns_and_the_cpu(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--native", "--iterations", FEW]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0].startswith(f"native: {host_cpu_model()} (this host)")
    assert out[1].split()[:4] == ["operation", "simulated", "us", "native"]
    assert [line.split()[0] for line in out[3:3 + len(OP_NAMES)]] == OP_NAMES


def test_cpu_model_from_cpuinfo_else_the_platform(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                       "model name\t: Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz\n")
    assert host_cpu_model(cpuinfo) == "Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz"
    assert host_cpu_model(tmp_path / "missing")  # never empty


# --- cost profiles ------------------------------------------------------------------------


def test_the_default_costs_are_the_skylake_profile_and_every_figure_has_a_source() -> None:
    from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS
    from cofferos.sim.costprofiles import SOURCE_KINDS, load_profile, profile_names

    assert load_profile("skylake-2018-kpti").costs == DEFAULT_KERNEL_COSTS
    for name in profile_names():
        profile = load_profile(name)
        costs = profile.costs
        assert profile.description and costs.profile == name
        keyed = {f"call.{call}" for call in costs.call_work}
        assert keyed | {"entry_exit", "page_fault"} <= set(profile.sources)
        assert all(source.startswith(SOURCE_KINDS) for source in profile.sources.values())


def test_mitigations_switch_the_entry_exit_and_the_paths_lebench_timed() -> None:
    from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS
    from cofferos.sim.costprofiles import profile_costs
    from cofferos.timing import kernel_costs

    off = kernel_costs(["mitigations=off"])
    assert (off.entry_exit, off.page_fault, off.work("mmap"), off.work("poll")) == (
        220, 1_700, 880, 830)
    assert off.work("openat") == DEFAULT_KERNEL_COSTS.work("openat")  # not a LEBench pair
    assert kernel_costs(["mitigations=off", "mitigations=on"]) == DEFAULT_KERNEL_COSTS
    assert kernel_costs(["entry_exit=300", "mitigations=off"]).entry_exit == 300  # given wins
    nomitig = profile_costs("current-nomitig")
    assert nomitig.with_overrides(mitigations=True).entry_exit == 700
    assert nomitig == kernel_costs(["profile=current-nomitig"])
    assert kernel_costs(["profile=current-nomitig", "mitigations=on"]).entry_exit == 700


def test_mitigations_off_makes_a_null_call_faster(capfd: pytest.CaptureFixture[str]) -> None:
    """The knob the docs describe is read: getppid throughput follows entry/exit."""
    rates = {}
    for cost in ([], ["--cost", "mitigations=off"], ["--cost", "profile=current-nomitig"]):
        assert main(["compare", "@nullsys", "--kernels", "linux", "--containers", "1",
                     "--cores", "1", "--op-syscall", "getppid", "--json", *cost,
                     "--", "2000"]) == 0
        rates[" ".join(cost)] = json.loads(capfd.readouterr().out)[0]["throughput_total"]
    default, off, profile = rates.values()
    assert off > 1.8 * default  # 700 -> 220 cycles of entry/exit, and Docker's filter
    assert profile == off


def test_a_malformed_profile_is_one_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from cofferos import errors
    from cofferos.sim import costprofiles

    (tmp_path / "bad.toml").write_text(
        'name = "bad"\nmitigations = true\n[costs]\nentry_exit = { value = 5 }\n')
    (tmp_path / "nosource.toml").write_text(
        'name = "x"\nmitigations = true\n[costs]\n'
        'entry_exit = { value = 5, source = "I think so" }\n')
    monkeypatch.setattr(costprofiles, "PROFILE_DIR", tmp_path)
    costprofiles.load_profile.cache_clear()
    try:
        with pytest.raises(errors.ConfigError, match=r"bad.toml \[costs\] entry_exit: expected"):
            costprofiles.load_profile("bad")
        with pytest.raises(errors.ConfigError, match="source must begin with M:"):
            costprofiles.load_profile("nosource")
    finally:
        costprofiles.load_profile.cache_clear()


# --- fitting shared parameters, judging on held-out ops ----------------------------------


def test_fit_reports_fitted_and_held_out_ops_apart(capfd: pytest.CaptureFixture[str]) -> None:
    fitted = ["null", "read", "ctx", "fork"]
    assert main(["calibrate", "--fit", ",".join(fitted), "--iterations", FEW, "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert result["fitted_ops"] == fitted
    assert result["held_out_ops"] == [name for name in OP_NAMES if name not in fitted]
    roles = {op["op"]: op["role"] for op in result["ops"]}
    assert roles == {name: "fitted" if name in fitted else "held out" for name in OP_NAMES}
    for key in ("fitted", "held_out"):
        errors = [abs(op["error"]) for op in result["ops"]
                  if (op["role"] == "fitted") == (key == "fitted")]
        assert result[key]["max_abs_error"] == pytest.approx(max(errors))
    names = [p["name"] for p in result["parameters"]]
    assert names == ["entry_exit", "kernel_work", "context_switch", "wakeup"]
    assert any(p["fitted"] != p["start"] for p in result["parameters"])


def test_the_fitted_costs_are_what_the_final_run_used() -> None:
    """The model is linear in cycle costs: the fit's errors are those of a real run with
    the fitted parameters, not of the linear model (a second, independent run agrees)."""
    from cofferos.calibration import simulate
    from cofferos.calibration_fit import fit

    result = fit(["null", "mmap"], iterations=int(FEW))
    _, again = simulate("linux", int(FEW), CofferConfig(kernel_costs=result.costs))
    for row in result.rows:
        assert again[row.op.name] == pytest.approx(row.fitted_us), row.op.name
    # null fixes entry/exit alone: its fitted error is far below its starting one
    null = next(row for row in result.rows if row.op.name == "null")
    assert abs(null.error) < abs(null.start_us / null.op.reference_us - 1) / 2


@pytest.mark.parametrize(("ops", "message"), [
    ("null,bogus", "--fit: unknown op(s) bogus; ops: null, read"),
    ("null,null", "an op is named twice"),
    (",", "name at least one op"),
    (",".join(OP_NAMES), "none held out"),
])
def test_bad_fit_ops_are_one_line(ops: str, message: str,
                                  capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--fit", ops]) == 2
    err = capfd.readouterr().err
    assert err.startswith("coffersim: error: ") and message in err
    assert err.count("\n") == 1
