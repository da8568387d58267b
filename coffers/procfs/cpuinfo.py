"""/proc/cpuinfo, decoded from the CPUID the guest itself sees.

Everything here is read back from :func:`cofferos.isa.cpuid.cpuid`, the fixed
processor every coffer runs on, so what a program reads in /proc/cpuinfo and
what it learns from the CPUID instruction agree: the vendor, family, model and
stepping of leaf 1, the brand string of leaves 0x80000002-4, the cache size of
leaf 4, the address sizes of leaf 0x80000008, and the flags of leaves 1, 7 and
0x80000001 under Linux's names, in Linux's order (arch/x86/include/asm/
cpufeatures.h). No AVX is advertised because CPUID advertises none. The clock
is the configured frequency of the cost model, not the host's.
"""

from __future__ import annotations

from cofferos.isa.cpuid import cpuid

ONLINE_CPUS = 1
"""Simulated cores per coffer: one processor entry."""
LEAF_VENDOR, LEAF_FEATURES, LEAF_CACHES, LEAF_EXTENDED_FEATURES = 0, 1, 4, 7
LEAF_EXT_FEATURES, LEAF_BRAND, LEAF_ADDRESS_SIZES = 0x80000001, 0x80000002, 0x80000008
BRAND_LEAVES = 3
HZ_PER_MHZ = 1_000_000
KIB = 1024
TAB_WIDTH = 8
POWER_MANAGEMENT = "power management"
BOGOMIPS_PER_MHZ = 2
"""Linux reports twice the TSC frequency in MHz on x86."""

LEAF1_EDX = {0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce",
             8: "cx8", 9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov",
             16: "pat", 17: "pse36", 18: "pn", 19: "clflush", 21: "dts", 22: "acpi",
             23: "mmx", 24: "fxsr", 25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm",
             31: "pbe"}
EXT_EDX = {11: "syscall", 19: "mp", 20: "nx", 22: "mmxext", 25: "fxsr_opt", 26: "pdpe1gb",
           27: "rdtscp", 29: "lm", 30: "3dnowext", 31: "3dnow"}
LEAF1_ECX = {0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx",
             6: "smx", 7: "est", 8: "tm2", 9: "ssse3", 10: "cid", 11: "sdbg", 12: "fma",
             13: "cx16", 14: "xtpr", 15: "pdcm", 17: "pcid", 18: "dca", 19: "sse4_1",
             20: "sse4_2", 21: "x2apic", 22: "movbe", 23: "popcnt", 24: "tsc_deadline_timer",
             25: "aes", 26: "xsave", 28: "avx", 29: "f16c", 30: "rdrand", 31: "hypervisor"}
EXT_ECX = {0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic", 4: "cr8_legacy", 5: "abm",
           6: "sse4a", 7: "misalignsse", 8: "3dnowprefetch", 11: "xop", 16: "fma4"}
LEAF7_EBX = {0: "fsgsbase", 3: "bmi1", 4: "hle", 5: "avx2", 7: "smep", 8: "bmi2", 9: "erms",
             10: "invpcid", 11: "rtm", 16: "avx512f", 18: "rdseed", 19: "adx", 20: "smap",
             23: "clflushopt", 24: "clwb", 29: "sha_ni"}


def _named(value: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in sorted(names.items()) if value >> bit & 1]


def flags() -> list[str]:
    """The flags line's words: Linux's capability words 0, 1, 4, 6 and 9, in order."""
    _, _, ecx1, edx1 = cpuid(LEAF_FEATURES, 0)
    _, _, ext_ecx, ext_edx = cpuid(LEAF_EXT_FEATURES, 0)
    _, ebx7, _, _ = cpuid(LEAF_EXTENDED_FEATURES, 0)
    return [*_named(edx1, LEAF1_EDX), *_named(ext_edx, EXT_EDX), *_named(ecx1, LEAF1_ECX),
            *_named(ext_ecx, EXT_ECX), *_named(ebx7, LEAF7_EBX)]


def _vendor() -> str:
    _, ebx, ecx, edx = cpuid(LEAF_VENDOR, 0)
    return b"".join(r.to_bytes(4, "little") for r in (ebx, edx, ecx)).decode()


def _brand() -> str:
    raw = b"".join(r.to_bytes(4, "little")
                   for leaf in range(LEAF_BRAND, LEAF_BRAND + BRAND_LEAVES)
                   for r in cpuid(leaf, 0))
    return raw.rstrip(b"\0").decode().strip()


def _signature() -> tuple[int, int, int]:
    """(family, model, stepping) from leaf 1 EAX, with the extended fields applied."""
    eax = cpuid(LEAF_FEATURES, 0)[0]
    stepping, model, family = eax & 0xF, eax >> 4 & 0xF, eax >> 8 & 0xF
    if family == 0xF:
        family += eax >> 20 & 0xFF
    if family >= 6:
        model += (eax >> 16 & 0xF) << 4
    return family, model, stepping


def _largest_cache_bytes() -> int:
    """The largest cache leaf 4 describes (Linux's "cache size" is the last level)."""
    largest, subleaf = 0, 0
    while True:
        eax, ebx, ecx, _ = cpuid(LEAF_CACHES, subleaf)
        if eax & 0x1F == 0:
            return largest
        ways, partitions = (ebx >> 22) + 1, (ebx >> 12 & 0x3FF) + 1
        line, sets = (ebx & 0xFFF) + 1, ecx + 1
        largest = max(largest, ways * partitions * line * sets)
        subleaf += 1


def _line(name: str, value: object) -> str:
    """One "name<tabs>: value" line, aligned with tabs as show_cpuinfo does."""
    if name == POWER_MANAGEMENT:
        return f"{name}:\n"
    tabs = "\t\t" if len(name) < TAB_WIDTH else "\t"
    return f"{name}{tabs}: {value}".rstrip() + "\n"


def cpuinfo(frequency_hz: int) -> str:
    """The whole of /proc/cpuinfo for a core clocked at ``frequency_hz``."""
    family, model, stepping = _signature()
    max_leaf = cpuid(LEAF_VENDOR, 0)[0]
    clflush = (cpuid(LEAF_FEATURES, 0)[1] >> 8 & 0xFF) * 8
    address_sizes = cpuid(LEAF_ADDRESS_SIZES, 0)[0]
    mhz = frequency_hz / HZ_PER_MHZ
    entries = []
    for cpu in range(ONLINE_CPUS):
        fields = [
            ("processor", cpu), ("vendor_id", _vendor()), ("cpu family", family),
            ("model", model), ("model name", _brand()), ("stepping", stepping),
            ("cpu MHz", f"{mhz:.3f}"), ("cache size", f"{_largest_cache_bytes() // KIB} KB"),
            ("physical id", 0), ("siblings", ONLINE_CPUS), ("core id", cpu),
            ("cpu cores", ONLINE_CPUS), ("apicid", cpu), ("initial apicid", cpu),
            ("fpu", "yes"), ("fpu_exception", "yes"), ("cpuid level", max_leaf), ("wp", "yes"),
            ("flags", " ".join(flags())), ("bugs", ""),
            ("bogomips", f"{mhz * BOGOMIPS_PER_MHZ:.2f}"), ("clflush size", clflush),
            ("cache_alignment", clflush),
            ("address sizes", f"{address_sizes & 0xFF} bits physical, "
                              f"{address_sizes >> 8 & 0xFF} bits virtual"),
            (POWER_MANAGEMENT, ""),
        ]
        entries.append("".join(_line(name, value) for name, value in fields))
    return "\n".join(entries) + "\n"
