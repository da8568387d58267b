"""The block counter's cycle word is fixed point, and only its accessors read it.

``CTL_CYCLES`` holds cycles in 1/``CYCLE_UNITS`` (:mod:`cofferos.isa.layout`): a model
that prices blocks in fractions of a cycle carries them. Every reader wants whole
cycles: the live word's ``whole`` field (:class:`CycleWord`, and
:attr:`BlockCounter.cycles` through it), :func:`whole_cycles` and
:func:`whole_cycles_of` for words the TLB hook logged raw
(:mod:`cofferos.isa.touchlog`). A reader that shifted by hand, or forgot to, would
see 256 times the cycles; these tests fail if an accessor returns the raw word, or
if a module outside the counter names it.
"""

from __future__ import annotations

import ctypes
import re
import struct
from pathlib import Path

from cofferos.isa import words
from cofferos.isa.blockcount import BlockCounter, whole_cycles, whole_cycles_of
from cofferos.isa.blockmap import TLB_LOGGED, TLB_WORDS
from cofferos.isa.layout import CYCLE_FRACTION_BITS, CYCLE_UNITS
from cofferos.isa.touchlog import TouchLog

ROOT = Path(__file__).resolve().parent.parent
WHOLE, FRACTION = 5, 0.75  #: a count whose word is neither whole nor a multiple of 256
RAW_WORD = int((WHOLE + FRACTION) * CYCLE_UNITS)
#: The modules that may name the word: its layout, the counter, and the native hooks
#: (C and numba) that add to it.
OWNERS = {"isa/layout.py", "isa/blockcount.py", "isa/native/jit.py"}


def _counter() -> BlockCounter:
    """A counter at WHOLE + FRACTION cycles."""
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.add(1, WHOLE + FRACTION)
    return counter


def _word_at(address: int) -> int:
    """The uint64 at ``address``: what native code reads there."""
    return ctypes.c_uint64.from_address(address).value


def test_whole_cycles_drops_the_fraction_of_a_word_and_of_an_array() -> None:
    assert whole_cycles(RAW_WORD) == WHOLE
    assert whole_cycles_of([RAW_WORD, CYCLE_UNITS - 1, 0]) == [WHOLE, 0, 0]


def test_the_counters_cycles_are_whole_not_the_raw_word() -> None:
    counter = _counter()
    assert _word_at(counter.cycles_address) == RAW_WORD  # the fraction is carried
    assert counter.cycles == counter.cycle_word.whole == WHOLE
    word = counter.cycle_word  # its two fields make up the word, bit for bit
    assert word.whole << CYCLE_FRACTION_BITS | word.fraction == RAW_WORD
    counter.add(0, 1 - FRACTION)  # read in place: the fields follow the word
    assert (counter.cycles, word.fraction) == (WHOLE + 1, 0)


def test_the_touch_log_gives_whole_cycles_of_the_words_it_logged() -> None:
    tlb_ctl = words.items(words.new_array(TLB_WORDS))
    counter = _counter()  # alive while the log points at its word
    log = TouchLog(tlb_ctl, counter.cycles_address)
    log._entry_items[:2] = words.items(words.copy_of(
        struct.pack("2Q", RAW_WORD, RAW_WORD + CYCLE_UNITS)))  # what the C hook logs
    tlb_ctl[TLB_LOGGED] = 2
    assert log.take() == [WHOLE, WHOLE + 1]
    assert log.take() == []


def test_no_module_outside_the_counter_reads_the_cycle_word() -> None:
    names = re.compile(r"\b(CTL_CYCLES|CYCLE_FRACTION_BITS)\b")
    readers = sorted(
        str(path.relative_to(ROOT)) for folder in ("isa", "coffers", "sim", "cofferos")
        for path in (ROOT / folder).rglob("*.py")
        if names.search(path.read_text()) and str(path.relative_to(ROOT)) not in OWNERS)
    assert readers == []
