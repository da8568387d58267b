"""The word arrays the compiled hooks share with Python (isa/words.py): what numpy
gave the block counter and the block map before (issue #17: ``coffersim run`` no
longer imports numpy), item by item, at a fixed address."""

from __future__ import annotations

import ctypes

from cofferos.isa import words


def test_items_read_and_write_python_ints_at_the_arrays_address() -> None:
    array = words.new_array(4)
    view = words.items(array)
    view[2] = (1 << 64) - 1
    assert view.tolist() == [0, 0, (1 << 64) - 1, 0]
    assert ctypes.c_uint64.from_address(words.address(array) + 16).value == (1 << 64) - 1


def test_a_filled_byte_array_reads_signed_or_unsigned() -> None:
    array = words.new_array(3, words.I8, -1)
    assert words.items(array, words.I8).tolist() == [-1, -1, -1]
    assert words.items(array, words.U8).tobytes() == b"\xff\xff\xff"


def test_a_copy_holds_the_same_words_in_memory_of_its_own() -> None:
    original = words.new_array(2)
    words.items(original)[1] = 42
    copy = words.copy_of(words.items(original).tobytes())
    words.items(original)[1] = 7
    assert words.items(copy).tolist() == [0, 42]
    assert words.address(copy) != words.address(original)
