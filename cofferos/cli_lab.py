"""``coffersim lab``: OS-course labs with graders, from the command line (docs/labs.md).

    coffersim lab list               the labs, one line each
    coffersim lab start N DIR        lab N's instructions (README.md) and skeleton into DIR
    coffersim lab check N DIR        grade the work in DIR: one PASS/FAIL line per check

``start`` refuses a DIR that is not empty (one line, exit status 2), so it never
overwrites a student's work. ``check`` exits 0 only when every check passes, 1
otherwise; the student's code failing is a failed check, never a traceback. The
labs themselves are :mod:`cofferos.labs`.
"""

from __future__ import annotations

import argparse
from typing import Any

EXIT_FAILED = 1


def lab_number(text: str) -> int:
    """A lab's number, for argparse: a whole number naming one of the labs."""
    from cofferos.errors import ConfigError
    from cofferos.labs import lookup

    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a lab number: {text!r} "
                                         "(coffersim lab list)") from None
    try:
        return lookup(number).number
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    lab = sub.add_parser("lab", help="OS-course labs with graders (docs/labs.md)",
                         description="OS-course labs: list them, start one in a directory "
                                     "(instructions and skeleton), check the work there.")
    actions = lab.add_subparsers(dest="lab_action", metavar="ACTION",
                                 parser_class=parser_class)
    actions.add_parser("list", help="the labs, one line each",
                       description="List the labs: number, name, title.")
    number = lab_number
    start = actions.add_parser("start", help="write lab N's instructions and skeleton into DIR",
                               description="Write lab N's instructions (README.md) and "
                                           "skeleton files into DIR, which must be new or "
                                           "empty.")
    start.add_argument("number", type=number, metavar="N", help="the lab's number")
    start.add_argument("directory", metavar="DIR", help="a new or empty directory")
    check = actions.add_parser("check", help="grade the work in DIR for lab N",
                               description="Run lab N's checks on the work in DIR: one "
                                           "PASS/FAIL line per check and a score; exit "
                                           "status 0 only when every check passes.")
    check.add_argument("number", type=number, metavar="N", help="the lab's number")
    check.add_argument("directory", metavar="DIR", help="the directory lab start wrote")


def run(args: argparse.Namespace) -> int:
    from cofferos import labs
    from cofferos.errors import ConfigError

    if args.lab_action is None:
        raise ConfigError("lab: which action? list, start N DIR or check N DIR")
    if args.lab_action == "list":
        for lab in labs.LABS.values():
            print(f"{lab.number}  {lab.name:<9} {lab.title}")
        return 0
    if args.lab_action == "start":
        written = labs.start(args.number, args.directory)
        names = ", ".join(path.name for path in written)
        print(f"lab {args.number} ({labs.LABS[args.number].name}) in {args.directory}: {names}")
        print(f"read {args.directory}/README.md, then: coffersim lab check {args.number} "
              f"{args.directory}")
        return 0
    report, outcomes = labs.check(args.number, args.directory)
    print(report)
    return 0 if all(outcome.passed for outcome in outcomes) else EXIT_FAILED
