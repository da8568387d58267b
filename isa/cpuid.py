"""The fixed CPUID the guest sees: a Skylake-SP-like x86-64 core without AVX.

Every coffer sees the same processor, whatever the host is, so runs are
reproducible and libc picks the same string and memory routines everywhere.
The features advertised are exactly those Unicorn 2.1 (QEMU's TCG) executes:
SSE up to 4.2, SSSE3, POPCNT, CMPXCHG16B, SYSCALL, NX, long mode. AVX, AVX2,
AVX-512, XSAVE/OSXSAVE, BMI and RDRAND are *not* advertised: Unicorn 2.1 cannot
execute AVX, and glibc would select AVX2 string functions if it saw them.

Leaf 4 describes a cache hierarchy (32 KiB L1d/L1i, 1 MiB L2, 8 MiB L3, 64-byte
lines) so that glibc sizes its memcpy thresholds as on a real server.
Bit positions follow the Intel SDM, vol. 2A, "CPUID - CPU Identification".
"""

from __future__ import annotations

VENDOR = b"GenuineIntel"
BRAND = b"CofferOS x86-64 (Skylake-SP class, no AVX)"  # <= 47 bytes + NUL

MAX_BASIC_LEAF = 0x7
MAX_EXTENDED_LEAF = 0x80000008

# Leaf 1 EAX: stepping 4, model 0x55 (extended model 5, model 5), family 6: Skylake-SP.
SIGNATURE_SKYLAKE_SP = 0x00050654
CLFLUSH_LINE_QWORDS = 8  # 8 x 8 = 64-byte cache lines, EBX bits 15:8
LOGICAL_PROCESSORS = 1  # EBX bits 23:16

# Leaf 1 ECX feature bits.
ECX_SSE3, ECX_SSSE3, ECX_CX16, ECX_SSE41, ECX_SSE42, ECX_POPCNT = 0, 9, 13, 19, 20, 23
# Leaf 1 EDX feature bits (also the auxv AT_HWCAP the loader passes): a baseline x86-64.
CPUID1_EDX_FPU = 1 << 0
CPUID1_EDX_VME = 1 << 1
CPUID1_EDX_DE = 1 << 2
CPUID1_EDX_PSE = 1 << 3
CPUID1_EDX_TSC = 1 << 4
CPUID1_EDX_MSR = 1 << 5
CPUID1_EDX_PAE = 1 << 6
CPUID1_EDX_MCE = 1 << 7
CPUID1_EDX_CX8 = 1 << 8
CPUID1_EDX_APIC = 1 << 9
CPUID1_EDX_SEP = 1 << 11
CPUID1_EDX_MTRR = 1 << 12
CPUID1_EDX_PGE = 1 << 13
CPUID1_EDX_MCA = 1 << 14
CPUID1_EDX_CMOV = 1 << 15
CPUID1_EDX_PAT = 1 << 16
CPUID1_EDX_PSE36 = 1 << 17
CPUID1_EDX_CLFLUSH = 1 << 19
CPUID1_EDX_MMX = 1 << 23
CPUID1_EDX_FXSR = 1 << 24
CPUID1_EDX_SSE = 1 << 25
CPUID1_EDX_SSE2 = 1 << 26
EDX_FEATURES = (
    CPUID1_EDX_FPU | CPUID1_EDX_VME | CPUID1_EDX_DE | CPUID1_EDX_PSE | CPUID1_EDX_TSC
    | CPUID1_EDX_MSR | CPUID1_EDX_PAE | CPUID1_EDX_MCE | CPUID1_EDX_CX8 | CPUID1_EDX_APIC
    | CPUID1_EDX_SEP | CPUID1_EDX_MTRR | CPUID1_EDX_PGE | CPUID1_EDX_MCA | CPUID1_EDX_CMOV
    | CPUID1_EDX_PAT | CPUID1_EDX_PSE36 | CPUID1_EDX_CLFLUSH | CPUID1_EDX_MMX
    | CPUID1_EDX_FXSR | CPUID1_EDX_SSE | CPUID1_EDX_SSE2
)
# Leaf 0x80000001 EDX: SYSCALL, NX, long mode; ECX: LAHF/SAHF in long mode.
EXT_EDX_SYSCALL, EXT_EDX_NX, EXT_EDX_LM = 11, 20, 29
EXT_ECX_LAHF_LM = 0
# Leaf 0x80000008 EAX: 39 physical and 48 virtual address bits.
ADDRESS_SIZES = (48 << 8) | 39

LEAF2_USE_LEAF4 = 0x0000FF01  # one round, descriptor 0xFF: "see leaf 4"


def _bits(*positions: int) -> int:
    value = 0
    for bit in positions:
        value |= 1 << bit
    return value


def _cache(kind: int, level: int, size: int, ways: int,
           line: int = 64) -> tuple[int, int, int, int]:
    """Encode one leaf-4 cache descriptor: type, level, self-initialising; geometry."""
    sets = size // (ways * line)
    eax = kind | (level << 5) | (1 << 8)
    ebx = ((ways - 1) << 22) | (line - 1)
    return eax, ebx, sets - 1, 0


CACHE_DATA, CACHE_INSTRUCTION, CACHE_UNIFIED = 1, 2, 3
KIB, MIB = 1 << 10, 1 << 20
LEAF4 = (
    _cache(CACHE_DATA, 1, 32 * KIB, 8),
    _cache(CACHE_INSTRUCTION, 1, 32 * KIB, 8),
    _cache(CACHE_UNIFIED, 2, 1 * MIB, 16),
    _cache(CACHE_UNIFIED, 3, 8 * MIB, 16),
)


def _words(text: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(text[i : i + 4], "little") for i in range(0, len(text), 4))


def _brand_leaves() -> dict[int, tuple[int, int, int, int]]:
    padded = BRAND.ljust(48, b"\0")[:48]
    words = _words(padded)
    return {0x80000002 + i: tuple(words[4 * i : 4 * i + 4]) for i in range(3)}  # type: ignore[misc]


def cpuid(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
    """Return (eax, ebx, ecx, edx) for CPUID with EAX=leaf, ECX=subleaf."""
    if leaf == 0:
        ebx, edx, ecx = _words(VENDOR)
        return MAX_BASIC_LEAF, ebx, ecx, edx
    if leaf == 1:
        ebx = (LOGICAL_PROCESSORS << 16) | (CLFLUSH_LINE_QWORDS << 8)
        ecx = _bits(ECX_SSE3, ECX_SSSE3, ECX_CX16, ECX_SSE41, ECX_SSE42, ECX_POPCNT)
        return SIGNATURE_SKYLAKE_SP, ebx, ecx, EDX_FEATURES
    if leaf == 2:
        return LEAF2_USE_LEAF4, 0, 0, 0
    if leaf == 4:
        return LEAF4[subleaf] if subleaf < len(LEAF4) else (0, 0, 0, 0)
    if leaf == 0x80000000:
        return MAX_EXTENDED_LEAF, 0, 0, 0
    if leaf == 0x80000001:
        return 0, 0, _bits(EXT_ECX_LAHF_LM), _bits(EXT_EDX_SYSCALL, EXT_EDX_NX, EXT_EDX_LM)
    if leaf in _BRAND:
        return _BRAND[leaf]
    if leaf == 0x80000008:
        return ADDRESS_SIZES, 0, 0, 0
    return 0, 0, 0, 0


_BRAND = _brand_leaves()

#: AT_HWCAP for the auxiliary vector: Linux passes CPUID(1).EDX on x86.
HWCAP = EDX_FEATURES
