"""``--timeline FILE.json`` of ``coffersim run`` (timed), ``compare`` and ``experiment``.

    coffersim compare @metadata --kernels linux,cofferos --containers 4 --timeline t.json
    coffersim plot --kind timeline t.json

The options are added to each command's parser by :func:`add_options`; the path is
checked before any run (:func:`check`: one line, exit status 2, when it cannot be
written), and :func:`recording` writes every machine the command runs into one
Trace Event file (:mod:`cofferos.sim.timeline`): each kernel run its own process.
The file is written beside its name and renamed over it at the end
(:func:`cofferos.results.outputs.open_output`), so a reader never sees half of one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cofferos.cli_args import positive
from cofferos.errors import ConfigError
from cofferos.sim.timeline import DEFAULT_LIMIT


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeline", metavar="FILE.json",
                        help="write a timeline of the timed machine (Chrome Trace Event JSON "
                             "for Perfetto or chrome://tracing): one track per core with user "
                             "time, system calls, lock waits, IPIs; sleeps and wake-ups per "
                             "task (docs/timeline.md)")
    parser.add_argument("--timeline-limit", type=positive, metavar="N",
                        help=f"events the timeline keeps at most (default {DEFAULT_LIMIT:,}); "
                             "later ones are counted in a 'timeline truncated' note")


def check(args: argparse.Namespace) -> None:
    """The timeline's options, before any run: a path that can be written, a limit
    only with a file."""
    from cofferos.results.outputs import check_file

    path = getattr(args, "timeline", None)
    if path is None:
        if getattr(args, "timeline_limit", None) is not None:
            raise ConfigError("--timeline-limit needs --timeline FILE.json")
        return
    check_file(path, "--timeline", stdout=False)


@contextmanager
def recording(args: argparse.Namespace, command: Sequence[str]) -> Iterator[Any]:
    """Record every machine built in the block into ``args.timeline`` (nothing without
    it); says where the file went on stderr."""
    path = getattr(args, "timeline", None)
    if path is None:
        yield None
        return
    from cofferos.results.outputs import open_output
    from cofferos.sim import timeline

    limit = args.timeline_limit or DEFAULT_LIMIT
    with open_output(path, option="--timeline") as out:
        trace = timeline.Timeline(out, limit, {"command": " ".join(command)})
        with timeline.recording(trace):
            yield trace
    note = (f" ({trace.dropped:,} events past --timeline-limit {limit:,} left out)"
            if trace.dropped else "")
    print(f"wrote {path}: {trace.written:,} events{note}", file=sys.stderr)
