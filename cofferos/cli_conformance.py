"""``coffersim conformance``: CPython's own tests, natively and in a coffer, side by side.

    coffersim conformance [MODULE ...] [--python PATH] [--timeout S] [--json FILE] [--show N]

Runs :func:`cofferos.sim.conformance.compare` and prints, per module, how many tests
ran, passed, failed, errored and were skipped natively and in the coffer, then
every test whose outcome differs. Exits 0 when no test differs, 1 otherwise, 2 for
a usage error (an unknown interpreter, a missing test suite).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from cofferos.cli_args import positive
from cofferos.errors import ConfigError

EXIT_DIFFERENT = 1
DEFAULT_SHOWN = 20
SUITE_HINT = "apt-get install libpython3.11-testsuite (or the version of your python3)"
PROBE_TIMEOUT_S = 60


def add_parsers(sub: Any) -> None:
    from cofferos.sim.conformance import DEFAULT_MODULES, DEFAULT_PYTHON, DEFAULT_TIMEOUT_S

    parser = sub.add_parser(
        "conformance", help="CPython's own tests natively and in a coffer (--rootfs /)",
        description="Run modules of CPython's regression tests with the host's python3, "
                    "natively and in a coffer whose root is the host's tree, and compare "
                    "them test by test.")
    parser.add_argument("modules", nargs="*", metavar="MODULE", default=list(DEFAULT_MODULES),
                        help="test modules (default: the OS-level ones: "
                             + ", ".join(DEFAULT_MODULES) + ")")
    parser.add_argument("--python", default=DEFAULT_PYTHON, metavar="PATH",
                        help=f"the interpreter, dynamically linked (default {DEFAULT_PYTHON})")
    parser.add_argument("--timeout", type=positive, default=int(DEFAULT_TIMEOUT_S),
                        metavar="S", help="host seconds each run of a module may take "
                        f"(default {DEFAULT_TIMEOUT_S:.0f})")
    parser.add_argument("--json", metavar="FILE", help="write every test's outcomes as JSON")
    parser.add_argument("--show", type=int, default=DEFAULT_SHOWN, metavar="N",
                        help=f"differing tests listed per module (default {DEFAULT_SHOWN})")


def _check(args: argparse.Namespace) -> None:
    """Before any work: the interpreter runs and has its test suite."""
    from cofferos.results.outputs import check_file

    if not os.path.isfile(args.python) or not os.access(args.python, os.X_OK):
        raise ConfigError(f"--python {args.python}: not an executable file")
    probe = subprocess.run([args.python, "-c", "import test.support, unittest"],
                           capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    if probe.returncode != 0:
        raise ConfigError(f"{args.python} has no test suite: {SUITE_HINT}")
    for module in args.modules:
        if not module.replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"{module!r} is not a module name (e.g. test_os)")
    missing = _missing_modules(args.python, args.modules)
    if missing:  # (Debian's python3 has test.support without the test modules)
        raise ConfigError(f"{args.python}'s test suite has no {', '.join(missing)}: "
                          f"{SUITE_HINT}")
    if args.json:
        check_file(args.json, "--json")


def _missing_modules(python: str, modules: list[str]) -> list[str]:
    """The ``modules`` (``test_os``, ``test.test_signal.StressTest``) whose test module
    ``python`` cannot find: each would otherwise run as one ImportError on both sides,
    which the report would count as a match."""
    names = [m if m.startswith("test.") else f"test.{m}" for m in modules]
    finder = ("import importlib.util, sys\n"  # test.MODULE[.Class[.test]]: the module
              "for arg in sys.argv[1:]:\n"
              "    if importlib.util.find_spec('.'.join(arg.split('.')[:2])) is None:\n"
              "        print(arg)\n")
    found = subprocess.run([python, "-c", finder, *names], capture_output=True, text=True,
                           timeout=PROBE_TIMEOUT_S, check=False)
    missing = set(found.stdout.split())
    return [m for m, name in zip(modules, names, strict=True) if name in missing]


def cmd_conformance(args: argparse.Namespace) -> int:
    from cofferos.sim.conformance import compare

    _check(args)
    results = compare(args.modules, python=args.python, timeout_s=float(args.timeout),
                      progress=lambda text: print(f"conformance: {text}", file=sys.stderr,
                                                  flush=True))
    print(format_report(results, shown=args.show))
    if args.json:
        _write_json(args.json, results)
    return EXIT_DIFFERENT if any(r.differences() for r in results) else 0


def _counts(run: Any) -> list[object]:
    counts = run.counts()
    ran = sum(counts.values())
    note = " (timed out)" if run.timed_out else ""
    return [f"{ran}{note}", counts["pass"], counts["fail"], counts["error"], counts["skip"]]


def format_report(results: list[Any], shown: int = DEFAULT_SHOWN) -> str:
    from cofferos.results.tables import format_table

    rows = [[r.module, *_counts(r.native), *_counts(r.coffer), len(r.differences()),
             f"{r.coffer.host_seconds:.0f}"] for r in results]
    headers = ("module", "native ran", "pass", "fail", "error", "skip",
               "coffer ran", "pass", "fail", "error", "skip", "differ", "coffer s")
    lines = [format_table(headers, rows)]
    for result in results:
        differences = result.differences()
        if not differences:
            continue
        lines.append(f"\n{result.module}: {len(differences)} tests differ")
        for test, native, coffer, detail in differences[:max(shown, 0)]:
            lines.append(f"  {test}: native {native}, coffer {coffer}"
                         + (f" ({detail})" if detail else ""))
        if len(differences) > shown:
            lines.append(f"  ... and {len(differences) - shown} more (--show, --json)")
    return "\n".join(lines)


def _write_json(path: str, results: list[Any]) -> None:
    from cofferos.results.outputs import open_output

    record = {r.module: {side: {"timed_out": run.timed_out, "host_seconds": run.host_seconds,
                                "exit_status": run.exit_status,
                                "tests": {test: list(value)
                                          for test, value in sorted(run.outcomes.items())}}
                         for side, run in (("native", r.native), ("coffer", r.coffer))}
              for r in results}
    with open_output(path) as out:
        json.dump(record, out, indent=2)
        out.write("\n")
