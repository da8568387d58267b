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
