"""The examples at the end of every ``coffersim ... --help``: two or three command lines each.

:func:`add_examples` sets each (sub)command's epilog from :data:`EXAMPLES`; a
test checks that every command has some, so a new command cannot ship without.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

#: Examples by command path ("" is coffersim itself).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("coffersim run -- @hello", "coffersim compare @nullsys --containers 1,8",
         "coffersim run --help"),
    "run": ("coffersim run -- @hello",
            "coffersim run --summary --stats run.json -- ./a.out arg1",
            "coffersim run --image busybox.tar -- sh -c 'ls /'",
            "coffersim run --personality-change after=execve:2:agent:write=/tmp -- ./a.out",
            "coffersim run --kernel linux --cores 4 --containers 8 --json -- @nullsys 1000",
            "coffersim run --containers 2 --timeline t.json --trace -- @metadata /tmp 50"),
    "compare": ("coffersim compare @nullsys --containers 1,8,32 --cores 4",
                "coffersim compare --kernels linux,cofferos --out cmp -- ./a.out 100",
                "coffersim compare @metadata --kernels linux,cofferos --containers 4 "
                "--timeline t.json"),
    "calibrate": ("coffersim calibrate --native",
                  "coffersim calibrate --fit null,read,ctx,fork",
                  "coffersim calibrate --cost profile=current-nomitig --json"),
    "experiment": ("coffersim experiment fault --kernels linux,cofferos",
                   "coffersim experiment noisy-neighbor --set storms=fork --out /tmp/noisy",
                   "coffersim experiment noisy-neighbor --cost profile=current-nomitig "
                   "--repeats 3",
                   "coffersim experiment fault --kernels linux --timeline fault.json",
                   "coffersim experiment exhaustion --image busybox.tar --kernels linux,vm",
                   "coffersim experiment agents --agents 16 --hosting processes,cofferos,vm",
                   "coffersim experiment agents --agents 3 --misbehave exfil,fillfs "
                   "--policy contain",
                   "coffersim experiment agents --misbehave none --set remote_model=1",
                   "coffersim experiment report --docs /tmp/isolation.md"),
    "sensitivity": ("coffersim sensitivity noisy-neighbor --jobs 2",
                    "coffersim sensitivity tradeoff --vary lock.tasklist_lock=x0.25:x4 "
                    "--vary page_cache_miss=0:60000",
                    "coffersim sensitivity noisy-neighbor --list"),
    "sweep": ("coffersim sweep workloads/specs/scaling.toml --out /tmp/sweep --jobs 2",
              "coffersim results show /tmp/sweep"),
    "results": ("coffersim results show /tmp/sweep", "coffersim results show --help"),
    "results show": ("coffersim results show /tmp/sweep",
                     "coffersim results show --json results/my-sweep"),
    "plot": ("coffersim plot /tmp/sweep --kind throughput",
             "coffersim plot /tmp/sweep --kind latency --hue kernel -o latency.svg",
             "coffersim plot --kind timeline t.json -o timeline.pdf",
             "coffersim plot /tmp/agents-sweep --kind density -o density.png"),
    "workloads": ("coffersim workloads", "coffersim workloads --json"),
    "personalities": ("coffersim personalities", "coffersim personalities --json"),
    "demo": ("coffersim demo", "coffersim demo --libc musl"),
    "fuzz": ("coffersim fuzz --calls 20000 --seed 1",
             "coffersim fuzz --calls 5000 --kernel linux --cores 4 --victim '@fileio 16'"),
    "lab": ("coffersim lab list", "coffersim lab start 1 lab1",
            "coffersim lab check 1 lab1"),
    "lab list": ("coffersim lab list", "coffersim lab list | head -1"),
    "lab start": ("coffersim lab start 1 lab1", "coffersim lab start 4 ~/os/channel"),
    "lab check": ("coffersim lab check 1 lab1", "coffersim lab check 5 ~/os/locks"),
    "validate": ("coffersim validate --quick",
                 "coffersim validate --workloads fxmark:MWCM,fxmark:MRPL --kernels linux:4.2 "
                 "--cores 40 --out /tmp/validate",
                 "coffersim validate --workloads wis:unlink2 --kernels linux,linux:6.x+cna "
                 "--placements one --workers 1,24,96 --cost lock.sockets=4",
                 "coffersim validate --workloads wis:unlink2 --kernels linux,linux:6.x+cna "
                 "--placements one --workers 1,24,96 --cost lock.sockets=4 --sensitivity",
                 "coffersim validate --workloads mosbench:exim --kernels linux:2.6.38,"
                 "linux:2.6.39 --placements one --workers 1,40 --cost lock.sockets=4 "
                 "--cost lock.ticket_reread=40"),
    "conformance": ("coffersim conformance test_fcntl test_time",
                    "coffersim conformance --json conformance.json"),
}


def commands(parser: argparse.ArgumentParser,
             path: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) under ``parser``, itself first."""
    yield path, parser
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, child in action.choices.items():
                yield from commands(child, f"{path} {name}".strip())


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Give every command under ``parser`` its examples as the epilog of its --help."""
    for path, command in commands(parser):
        lines = EXAMPLES.get(path)
        if lines:
            command.epilog = "examples:\n" + "".join(f"  {line}\n" for line in lines)
