"""ELF header parsing (isa/elf.py) on generated, mostly malformed, files.

Property: :func:`~cofferos.isa.elf.parse_elf` answers any byte string with an
:class:`~cofferos.isa.elf.ElfImage` or an :class:`~cofferos.errors.ElfError`, never
another exception (a struct.error, an IndexError, an OverflowError would be a
traceback on the command line and, inside execve, an oops). An image it accepts is
one the loader may trust: its segments lie in the file and in user space.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cofferos.errors import ElfError
from cofferos.isa.elf import (
    EHDR_FORMAT,
    EM_X86_64,
    ET_DYN,
    ET_EXEC,
    PHDR_FORMAT,
    PHDR_SIZE,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    PT_PHDR,
    PT_TLS,
    USER_SPACE_END,
    ElfImage,
    parse_elf,
)

IDENT = b"\x7fELF\x02\x01\x01" + bytes(9)
U64 = st.one_of(st.integers(0, 1 << 16), st.sampled_from([
    0, 1, 0x1000, 0x400000, USER_SPACE_END - 0x1000, USER_SPACE_END, 1 << 63, (1 << 64) - 1]),
    st.integers(0, (1 << 64) - 1))
U32 = st.one_of(st.integers(0, 8), st.integers(0, (1 << 32) - 1))
U16 = st.one_of(st.integers(0, 8), st.just(PHDR_SIZE), st.integers(0, 0xFFFF))

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _header(e_type: int, phoff: int, phentsize: int, phnum: int, entry: int = 0x401000) -> bytes:
    return EHDR_FORMAT.pack(IDENT, e_type, EM_X86_64, 1, entry, phoff, 0, 0, 64,
                            phentsize, phnum, 64, 0, 0)


@st.composite
def program_headers(draw: st.DrawFn) -> bytes:
    p_type = draw(st.sampled_from([PT_LOAD, PT_LOAD, PT_INTERP, PT_TLS, PT_PHDR,
                                   PT_GNU_STACK, 0, 0xFFFFFFFF]))
    return PHDR_FORMAT.pack(p_type, draw(U32), draw(U64), draw(U64), draw(U64), draw(U64),
                            draw(U64), draw(U64))


@st.composite
def elf_files(draw: st.DrawFn) -> bytes:
    """A header that is mostly right, program headers of any values, maybe truncated
    or with bytes flipped."""
    phdrs = draw(st.lists(program_headers(), min_size=0, max_size=4))
    phoff = draw(st.one_of(st.just(64), U64))
    phnum = draw(st.one_of(st.just(len(phdrs)), U16))
    phentsize = draw(st.one_of(st.just(PHDR_SIZE), U16))
    e_type = draw(st.sampled_from([ET_EXEC, ET_DYN, 1, 4, 0xFFFF]))
    data = bytearray(_header(e_type, phoff, phentsize, phnum) + b"".join(phdrs))
    data += bytes(draw(st.integers(0, 256)))
    for _ in range(draw(st.integers(0, 4))):  # flip some bytes anywhere
        if data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data if cut is None else data[:cut])


def _parses_or_refuses(data: bytes) -> ElfImage | None:
    try:
        return parse_elf(data, "fuzzed")
    except ElfError as err:
        assert str(err).startswith("fuzzed: ")  # one line that names the file
        assert "\n" not in str(err)
        return None


@SETTINGS
@given(elf_files())
def test_any_header_is_an_image_or_an_elf_error(data: bytes) -> None:
    image = _parses_or_refuses(data)
    if image is not None:
        for segment in image.segments:
            assert segment.offset + segment.filesz <= len(data)
            assert segment.vaddr + segment.memsz <= USER_SPACE_END


@SETTINGS
@given(st.binary(max_size=512))
def test_any_bytes_are_an_image_or_an_elf_error(data: bytes) -> None:
    _parses_or_refuses(data)


@SETTINGS
@given(st.binary(max_size=200))
def test_any_bytes_after_the_magic_are_an_image_or_an_elf_error(tail: bytes) -> None:
    _parses_or_refuses(IDENT + tail)


def test_the_generator_also_makes_valid_images() -> None:
    """The strategy is not only noise: a plain one-segment file parses."""
    load = PHDR_FORMAT.pack(PT_LOAD, 5, 0, 0x400000, 0x400000, 0x1000, 0x1000, 0x1000)
    data = _header(ET_EXEC, 64, PHDR_SIZE, 1, entry=0x400078) + load
    data += bytes(0x1000 - len(data))
    image = parse_elf(data, "ok")
    assert isinstance(image, ElfImage) and len(image.segments) == 1
    assert struct.unpack_from("<I", data, 64)[0] == PT_LOAD
