"""``coffersim calibrate``: the lmbench suite simulated, natively, and fitted.

    coffersim calibrate [--kernel K] [--iterations N] [--cost NAME=V]... [--native] [--json]
    coffersim calibrate --fit null,read,pipe,fork [--native] [--json]

The work is :mod:`cofferos.calibration` (simulated and native runs) and
:mod:`cofferos.calibration_fit` (``--fit``); this module parses the options and
prints tables on stdout (progress on stderr), or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cofferos.cli_args import bounded, kernel_name
from cofferos.errors import ProgramError


def _significant(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def add_parser(sub: Any) -> None:
    calibrate = sub.add_parser(
        "calibrate", help="the lmbench suite in simulated time beside published figures",
        description="Run the lmbench workload in one container (two cores; ctx pinned to "
                    "one) and compare each operation with its reference latency; with "
                    "--native also run the same binary on this host; with --fit OPS fit "
                    "the cost model's shared parameters on OPS and judge it on the others.")
    calibrate.add_argument("--kernel", type=kernel_name, metavar="KERNEL", default="linux",
                           help="kernel architecture (default linux)")
    calibrate.add_argument("--iterations", type=bounded("iterations"), metavar="N",
                           help="iterations of each operation (default 1000)")
    calibrate.add_argument("--cost", metavar="NAME=VALUE", action="append", default=[],
                           help="override a kernel cost, or profile=NAME, as for run "
                                "(repeatable)")
    calibrate.add_argument("--native", action="store_true",
                           help="also run the same binary natively on this host and print "
                                "its figures with the host's CPU model")
    calibrate.add_argument("--fit", metavar="OPS",
                           help="fit the model's shared parameters (entry_exit, kernel_work, "
                                "context_switch, wakeup) on these comma-separated ops and "
                                "report the others as held out, e.g. null,read,ctx,fork")
    calibrate.add_argument("--json", action="store_true", help="print the results as JSON")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from cofferos.calibration import CALIBRATION_ITERATIONS, calibrate
    from cofferos.coffers.coffer import CofferConfig
    from cofferos.timing import kernel_costs

    iterations = args.iterations or CALIBRATION_ITERATIONS
    config = CofferConfig(kernel_costs=kernel_costs(args.cost))
    if args.fit is not None:
        return _fit(args, iterations, config)
    native = " and natively" if args.native else ""
    print(f"lmbench all {iterations} under {args.kernel}{native}, 1 container, 2 cores "
          f"(ctx on 1) ...", file=sys.stderr, flush=True)
    try:
        result = calibrate(args.kernel, iterations, config, native=args.native)
    except ProgramError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(calibration_record(result), indent=2))
        return 0
    print_calibration(result)
    return 0


def calibration_record(result: Any) -> dict[str, Any]:
    from cofferos.calibration import CALIBRATION_TOLERANCE

    native = result.native
    return {"kernel": result.kernel, "iterations": result.iterations,
            "tolerance": CALIBRATION_TOLERANCE,
            "native": None if native is None else {"cpu_model": native.cpu_model,
                                                   "iterations": native.iterations},
            "ops": [row.as_dict() for row in result.rows],
            "outside_tolerance": [row.op.name for row in result.outside]}


def print_calibration(result: Any) -> None:
    from cofferos.calibration import CALIBRATION_TOLERANCE
    from cofferos.results import format_table

    limit = f"{CALIBRATION_TOLERANCE:.0%}"
    native = result.native
    if native is not None:
        print(f"native: {native.cpu_model} (this host), lmbench all {native.iterations}")
        print(format_table(
            ("operation", "simulated us", "native us", "reference us", "sim/ref", "native/ref",
             "source"),
            [(row.op.name, _rounded(row.simulated_us, 3), _rounded(row.native_us, 3),
              row.op.reference_us, _significant(row.ratio), _significant(row.native_ratio),
              row.op.source) for row in result.rows]))
    else:
        print(format_table(
            ("operation", "simulated us", "reference us", "ratio", "source"),
            [(row.op.name, _rounded(row.simulated_us, 3), row.op.reference_us,
              _significant(row.ratio), row.op.source) for row in result.rows]))
    print()
    if result.outside:
        print(f"outside {limit} of the reference: " + ", ".join(
            f"{row.op.name} ({'missing' if row.ratio is None else f'{row.ratio:.3g}x'})"
            for row in result.outside))
    else:
        print(f"every operation is within {limit} of its reference")


def _fit(args: argparse.Namespace, iterations: int, config: Any) -> int:
    from cofferos.calibration import run_native
    from cofferos.calibration_fit import fit, parse_fit_ops

    ops = parse_fit_ops(args.fit)  # a bad name is a usage error, before any work
    host = None
    try:
        if args.native:
            host = run_native(iterations)
        result = fit(ops, args.kernel, iterations, config, progress=lambda what: print(
            f"lmbench all {iterations} under {args.kernel}, {what} ...", file=sys.stderr,
            flush=True))
    except ProgramError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return 1
    record = result.as_dict()
    if host is not None:
        record["native"] = {"cpu_model": host.cpu_model, "iterations": host.iterations}
        for op in record["ops"]:
            op["native_us"] = host.us.get(op["op"])
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    from cofferos.results import format_table

    held = record["held_out_ops"]
    print(f"fitted on {', '.join(result.fitted_ops)}; held out: {', '.join(held)} "
          f"(lmbench all {iterations} under {args.kernel})")
    print(format_table(("parameter", "start", "fitted", "unit", "what"),
                       [(p["name"], _significant(p["start"], 4), _significant(p["fitted"], 4),
                         p["unit"], p["description"]) for p in record["parameters"]]))
    print()
    columns = ["operation", "role", "reference us", "start us", "fitted us", "error %"]
    if host is not None:
        columns.append("native us")
    print(format_table(tuple(columns), [
        (op["op"], op["role"], op["reference_us"], _rounded(op["start_us"], 3),
         _rounded(op["fitted_us"], 3), round(100 * op["error"], 1),
         *([_rounded(op["native_us"], 3)] if host is not None else []))
        for op in record["ops"]]))
    print()
    for role, key in (("fitted", "fitted"), ("held-out", "held_out")):
        summary = record[key]
        print(f"{role} ops: mean |error| {100 * summary['mean_abs_error']:.1f}%, "
              f"max {100 * summary['max_abs_error']:.1f}%")
    if host is not None:
        print(f"native: {host.cpu_model} (this host)")
    return 0
