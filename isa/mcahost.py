"""The host side of the ``mca`` cycle model (:mod:`.mca`): which llvm-mca runs, what
``-mcpu=native`` stands for on this host, what a mispredicted branch costs its core, and
where the block costs are cached. Nothing here spawns llvm-mca or decodes code, so a
command that only checks for llvm-mca (``coffersim timing``) need not import the model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cofferos.errors import ConfigError

LLVM_MCA = "llvm-mca"
MCA_ENV = "COFFERSIM_LLVM_MCA"  #: path of the llvm-mca to use instead of the one on PATH
CACHE_ENV = "COFFERSIM_CACHE"
NATIVE_CPU = "native"  #: llvm-mca's name for the host's cpu
CPUINFO = "/proc/cpuinfo"

#: Cycles lost per mispredicted branch on Intel's cores. Agner Fog, "The
#: microarchitecture of Intel, AMD and VIA CPUs" (2022), gives 15-20 clock cycles for
#: Skylake and its successors up to Golden Cove; 17 is the middle. Not fitted.
MISPREDICT_CYCLES = 17
#: The same for AMD's Zen 3 and Zen 4 (family 19h): "in the range from 11 to 18 cycles
#: [...]. The common case penalty is 13 cycles" (AMD, Software Optimization Guide for
#: Family 19h Processors, 2.8, and the same words in the Zen 4 guide; LLVM's znver3
#: model quotes it as its MispredictPenalty). Not fitted either.
ZEN_MISPREDICT_CYCLES = 13
#: Cores (llvm-mca's -mcpu names) whose penalty is not ``MISPREDICT_CYCLES``.
CORE_MISPREDICT_CYCLES = {"znver3": ZEN_MISPREDICT_CYCLES, "znver4": ZEN_MISPREDICT_CYCLES}
#: /proc/cpuinfo's (vendor_id, cpu family) of those cores: what ``native`` is on them.
HOST_MISPREDICT_CYCLES = {("AuthenticAMD", "25"): ZEN_MISPREDICT_CYCLES}
MISSING = "llvm-mca not found: install llvm (apt-get install llvm) or use --cycle-model simple"


def llvm_mca_path() -> str:
    """The llvm-mca executable, or :class:`ConfigError` (one line) when there is none."""
    path = shutil.which(os.environ.get(MCA_ENV) or LLVM_MCA)
    if path is None:
        raise ConfigError(MISSING)
    return path


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    base = Path(override).expanduser() if override else \
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "cofferos-sim"
    return base / "mca"


def host_cpu_fields() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (none if it cannot be read)."""
    fields: dict[str, str] = {}
    try:
        with open(CPUINFO, encoding="ascii", errors="replace") as info:
            for line in info:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def host_cpu_key() -> str:
    """What ``-mcpu=native`` stands for on this host, without running llvm-mca."""
    fields = host_cpu_fields()
    if not fields:
        return ""
    return "/".join(fields.get(k, "") for k in ("vendor_id", "cpu family", "model", "model name"))


def mispredict_cycles(cpu: str) -> int:
    """Cycles a mispredicted conditional branch costs on ``cpu`` (an llvm-mca -mcpu name;
    ``native``: the host's core, told from /proc/cpuinfo without running llvm-mca)."""
    if cpu == NATIVE_CPU:
        fields = host_cpu_fields()
        key = (fields.get("vendor_id", ""), fields.get("cpu family", ""))
        return HOST_MISPREDICT_CYCLES.get(key, MISPREDICT_CYCLES)
    return CORE_MISPREDICT_CYCLES.get(cpu, MISPREDICT_CYCLES)
