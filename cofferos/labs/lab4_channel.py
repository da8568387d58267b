"""Lab 4's grader: an information channel between two containers, graded by bits moved.

The student's ``sender.c`` (container A) and ``receiver.c`` (container B) share
time slots (``skeletons/lab4/slots.h``) and nothing else. The grader runs the pair on
the timing machine, both containers at once, under ``linux`` (one shared kernel,
namespaces) and ``cofferos`` (a kernel object per container), each time twice: with
a message and with its complement. A bit has *moved* when the receiver got it right
both times, so a receiver whose output does not depend on the sender moves none,
however lucky. The channel must move nearly every bit on ``linux`` and none on
``cofferos``; ``answers.md`` says which kernel state carried it and why it is absent
between coffers (``sim/isolation/infoflow.py`` finds such channels automatically).
"""

from __future__ import annotations

import re
from pathlib import Path

from cofferos.labs.grader import Check, CheckFailed, Work
from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.machine import MachineConfig

TITLE = "an information channel between containers on a shared kernel"
SUMMARY = "send bits from one container to another through the kernel; absent between coffers"
SENDER, RECEIVER, ANSWERS = "sender.c", "receiver.c", "answers.md"
MESSAGE = "1011001110001011"  #: the bits sent (and then their complement)
SHARED, OWN = "linux", "cofferos"
#: Bits of MESSAGE that must move on the shared kernel (a channel may lose one or two).
NEEDED = len(MESSAGE) - 2
#: Cores of the machine: one for each task (sender, its child, receiver) and one spare,
#: so that no task waits for a core and no hardware (core sharing) channel opens.
CORES = 4
SECTIONS = ("Channel", "Why not between coffers")
MIN_WORDS = 15  #: an answer shorter than this is not an explanation


def _complement(bits: str) -> str:
    return "".join("1" if bit == "0" else "0" for bit in bits)


def _received(work: Work, kernel: str, message: str) -> str:
    sender, receiver = work.guest(SENDER), work.guest(RECEIVER)
    report = run_mix([ContainerSpec(str(sender), (message,)),
                      ContainerSpec(str(receiver), (str(len(message)),))],
                     kernel=kernel, cores=CORES,
                     machine=MachineConfig(hardware_contention=0.0))
    a, b = report.containers
    for who, container in (("sender", a), ("receiver", b)):
        if container.exit_code != 0:
            raise CheckFailed(f"on {kernel} the {who} exited with status "
                              f"{container.exit_code}: "
                              f"{container.stderr.decode(errors='replace').strip()[:120]!r}")
    found = re.search(rb"received ([01]+)", b.stdout)
    if found is None or len(found.group(1)) != len(message):
        raise CheckFailed(f"on {kernel} the receiver printed {b.stdout[:120]!r}, not "
                          f"'received' and {len(message)} bits")
    return found.group(1).decode()


def bits_moved(work: Work, kernel: str) -> tuple[int, str, str]:
    """Bits of MESSAGE received right with the message and with its complement."""
    flipped = _complement(MESSAGE)
    first, second = _received(work, kernel, MESSAGE), _received(work, kernel, flipped)
    moved = sum(1 for sent, got, sent2, got2 in zip(MESSAGE, first, flipped, second,
                                                    strict=True)
                if sent == got and sent2 == got2)
    return moved, first, second


def builds(work: Work) -> str:
    names = [Path(work.guest(name)).name for name in (SENDER, RECEIVER)]
    return "built " + ", ".join(names)


def shared(work: Work) -> str:
    moved, first, second = bits_moved(work, SHARED)
    if moved < NEEDED:
        raise CheckFailed(f"{moved}/{len(MESSAGE)} bits moved on {SHARED} (need {NEEDED}): "
                          f"sent {MESSAGE}, received {first}; sent {_complement(MESSAGE)}, "
                          f"received {second}")
    return f"{moved}/{len(MESSAGE)} bits moved on {SHARED}"


def own(work: Work) -> str:
    moved, first, second = bits_moved(work, OWN)
    if moved:
        raise CheckFailed(f"{moved}/{len(MESSAGE)} bits moved on {OWN}: received {first} "
                          f"and {second}; a channel between coffers is a bug to report")
    return f"0/{len(MESSAGE)} bits moved on {OWN} (received {first} both times)"


def answers(work: Work) -> str:
    text = work.path(ANSWERS).read_text(errors="replace")
    parts = re.split(r"^##\s+", text, flags=re.MULTILINE)
    found = {part.splitlines()[0].strip(): part.split("\n", 1)[1] if "\n" in part else ""
             for part in parts[1:]}
    for section in SECTIONS:
        body = found.get(section)
        if body is None:
            raise CheckFailed(f"{ANSWERS} has no section '## {section}'")
        if "TODO" in body or len(body.split()) < MIN_WORDS:
            raise CheckFailed(f"{ANSWERS}: '## {section}' is not answered yet")
    return f"{', '.join(SECTIONS)} answered"


CHECKS: list[Check] = [
    ("sender.c and receiver.c build", builds),
    (f"the channel moves the bits on {SHARED}", shared),
    (f"no bit moves on {OWN}", own),
    ("answers.md names the channel and explains its absence", answers),
]
