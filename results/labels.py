"""How figures name a configuration: personality stacks without their options.

A stack in a table is its specs joined with ``+``, each ``NAME[:key=value,...]``
(``hardened+agent:write=/tmp,rate=exec=2/s``): exact, and too long for a legend or
a label beside a point. Figures show the names alone (``hardened+agent``), so a
trade-off point reads ``linux: agent``; two stacks that differ only in their
options keep their full text, so no two configurations share a label. Used by
:mod:`cofferos.results.figures` and the isolation experiments' figures.

    >>> short_stack("agent:write=/tmp,rate=exec=2/s")
    'agent'
    >>> short_labels(["none", "hardened+agent:max_procs=16"])
    {'none': 'none', 'hardened+agent:max_procs=16': 'hardened+agent'}
    >>> short_labels(["agent:max_procs=16", "agent:max_procs=64"])["agent:max_procs=64"]
    'agent:max_procs=64'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

STACK_SEPARATOR = "+"  #: between the specs of a stack (cofferos.results.sweeps too)
OPTIONS_SEPARATOR = ":"  #: between a personality's name and its options


def short_stack(label: str) -> str:
    """A stack's label with each spec's options left out (``agent:max=16`` -> ``agent``)."""
    return STACK_SEPARATOR.join(spec.split(OPTIONS_SEPARATOR, 1)[0]
                                for spec in str(label).split(STACK_SEPARATOR))


def short_labels(labels: Iterable[str]) -> dict[str, str]:
    """Each distinct stack label -> what a figure shows: :func:`short_stack`, unless
    another label shortens to the same text (then both keep their full text)."""
    distinct = list(dict.fromkeys(str(label) for label in labels))
    counts = Counter(short_stack(label) for label in distinct)
    return {label: short_stack(label) if counts[short_stack(label)] == 1 else label
            for label in distinct}
