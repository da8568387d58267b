"""The ``mca`` user-mode cycle model: block throughput from llvm-mca, cached.

The ``simple`` model (:mod:`.costs`) charges each instruction its own class cost
and adds them up, so a block runs at about one instruction per cycle whatever
its instruction-level parallelism. This model asks LLVM's machine-code analyzer
(``llvm-mca``, Debian's ``llvm`` package) what a block costs on a real core
(``-mcpu``: the host's, ``native``, by default), in one of two ways:

- a block that ends with a branch back to its own start (a loop that is one
  block) runs back to back, so its cost is llvm-mca's simulation of it repeated
  ``ITERATIONS`` times through the out-of-order pipeline, total cycles divided by
  the iterations: a chain carried from one iteration to the next (dependent
  multiplies) pays its latency;
- any other block is followed by different code that the out-of-order core
  overlaps it with, so its cost is its *block reciprocal throughput*, the cycles
  its micro-operations need on the core's ports and issue width: independent
  work overlaps, a latency chain inside it does not count. (Simulating such a
  block looped charged Lua 3.5x and SQLite 1.9x its native cycles: see the
  validation in docs/accounting.md.)

Either figure is kept to 1/256 cycle (the block counter's fixed-point units,
:data:`cofferos.isa.layout.CYCLE_UNITS`) and the hook carries the fractions from
block to block. That is the back end's cost; llvm-mca leaves out the front end and
branch prediction, which the hook adds (:mod:`cofferos.isa.blockcount`): a taken
transfer costs the front end a cycle, and the front end runs ahead of the back end by
up to ``FETCH_AHEAD_CYCLES``, so the cycle shows only where fetch is the bottleneck;
a block that ends with a conditional branch is marked, and a gshare predictor (64 Ki
two-bit counters indexed by the branch's address XOR 16 outcomes of global history)
runs on the outcomes the guest takes, charging the core's misprediction penalty
(:func:`mispredict_cycles`) for each wrong prediction. A CMP or TEST and the Jcc after
it are one macro-op (branch fusion, which llvm-mca does not model). Indirect jumps and
calls, and returns, are taken as predicted; caches and TLBs are not modelled (llvm-mca
assumes L1 hits), so code that misses caches comes out too fast.

The instruction count is exact and unchanged: it comes from the simple coster.
Instructions llvm-mca cannot price meaningfully (system calls, CPUID, RDTSC,
HLT, undecodable bytes) or cannot parse are left out of the analysed block and
charged their ``simple`` table cost on top.

Costs are computed once per distinct block bytes and kept in memory for the
process and on disk (``$COFFERSIM_CACHE/mca`` or ``~/.cache/cofferos-sim/mca``,
one file per cpu name and llvm-mca build), so a repeated run spawns no llvm-mca
process at all. A cold miss does not fork one process per block: the miss's
code pages are swept for every block that can start there (after a control
transfer or at a direct branch target, up to the next control transfer), and
all of them go through one llvm-mca run as separate ``LLVM-MCA-BEGIN`` regions.
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cofferos.errors import ConfigError

from .blockstore import open_store
from .cost_table import DEFAULT_COSTS, InstructionCosts
from .costs import BlockCoster, shared_coster
from .layout import CYCLE_UNITS
from .mcahost import (  # noqa: F401 - the model's public names, kept importable from here
    MCA_ENV,
    MISPREDICT_CYCLES,
    MISSING,
    NATIVE_CPU,
    cache_root,
    host_cpu_key,
    llvm_mca_path,
    mispredict_cycles,
)

ITERATIONS = 100  #: llvm-mca's default: the pipeline fill is then ~3% of a 1-cycle block
MCA_TIMEOUT_S = 600.0
PAGE_SIZE = 4096
SWEEP_BLOCKS = 32  #: blocks priced with a miss, at most: a cold run's llvm-mca runs vs waste
MAX_PARSE_RETRIES = 3  #: llvm-mca runs per batch while unparsable instructions are dropped
DIGEST_BYTES = 8  #: of a block's BLAKE2b: a collision among a million blocks has odds 1e-8
#: The disk cache: fixed records of (block digest, cycles, instructions), little-endian.
#: With the count kept too, a warm run needs no decoder at all (capstone's import and a
#: decode of every block cost a short run more than the run itself: issue #16's host
#: speed target).
#: Each record is two little-endian 64-bit words: the digest, then the cycles (low 32
#: bits) with the count above them. Read with the standard library's ``array`` (a run
#: under ``mca`` used to import numpy for it: 60-90 ms, most of its start-up over
#: ``simple``'s).
RECORD_WORDS = 2
COUNT_SHIFT = 32
CYCLES_MASK = (1 << COUNT_SHIFT) - 1
#: How far, in cycles, the front end may run ahead of the back end. A core redirects its
#: fetch at most once a cycle (here a taken test+jnz runs at 1.1 cycles, one that falls
#: through at 0.53: docs/accounting.md), but its branch predictor is decoupled and runs
#: ahead through queues (AMD's family 19h optimization guide), so a taken transfer costs
#: a cycle only while fetch is the bottleneck; llvm-mca models the back end alone. A
#: round estimate, not fitted: Lua's cycles are the same for 4 and for 64.
FETCH_AHEAD_CYCLES = 16
#: Bumped when what a cached figure means changes, so old caches are not read
#: (5: fixed-point cycles; 6: no floor for a block ending with a Jcc; 7: no floor at
#: all, the block hook's front end charges taken transfers; 8: branch fusion).
CACHE_FORMAT = 8
#: In a cached record's cycle units: the block ends with a conditional branch.
RECORD_BRANCH = 1 << 31

#: AT&T mnemonics llvm-mca has no meaningful model of: priced from the simple table.
_UNMODELLED = re.compile(r"(syscall|sysenter|sysret\w*|int\d?|into|iret\w*|cpuid|rdtscp?|"
                         r"hlt|ud[012]|\.byte|xgetbv|rdrand|rdseed|\w*fence|pause)")
#: Conditional branches (AT&T): Jcc, JrCXZ, LOOPcc; not JMP.
_CONDITIONAL = re.compile(r"j(?!mp)\w+|loop\w*")
#: Branch fusion (AMD's family 19h optimization guide; Agner Fog's microarchitecture
#: guide on Zen): a CMP or TEST directly followed by a Jcc is one macro-op, one dispatch
#: slot, executed as the branch. llvm-mca 14 and 19 count two, so the model drops the
#: compare. Not fused, to be safe: a compare with a memory operand and an immediate.
_COMPARE = re.compile(r"(cmp|test)[bwlq]?")
_FUSES_WITH_COMPARE = re.compile(r"j(?!mp|[er]?cxz)\w+")
#: Control transfers: a Unicorn block ends after one (and the next may start there).
_TRANSFER = re.compile(r"(j\w+|call\w*|ret\w*|loop\w*|syscall|sysenter|int\d?|iret\w*|hlt|ud2)")
_DIRECT_TARGET = re.compile(r"0x([0-9a-f]+)")
_ERROR_LINE = re.compile(r":(\d+):\d+: error:")


def _code_pages(read: Callable[[int, int], bytes], address: int,
                size: int) -> tuple[bytes, int] | None:
    """The bytes of the pages a block lies on, or None if they cannot be read."""
    first = address & ~(PAGE_SIZE - 1)
    last = (address + max(size, 1) - 1) | (PAGE_SIZE - 1)
    try:
        return read(first, last + 1 - first), first
    except Exception:  # noqa: BLE001 - a page the engine cannot read: price the block alone
        return None


def _digest(code: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(code, digest_size=DIGEST_BYTES).digest(), "little")


class McaBlockCoster(BlockCoster):
    """Counts like :class:`BlockCoster`, prices blocks by llvm-mca (module docstring)."""

    marks_branches = True
    fetch_ahead_cycles = FETCH_AHEAD_CYCLES

    def __init__(self, costs: InstructionCosts = DEFAULT_COSTS, cpu: str = NATIVE_CPU,
                 cache_dir: Path | None = None, persist: bool = False) -> None:
        super().__init__(costs)
        self._cache_dir = cache_dir or cache_root()
        self.cpu = cpu
        self._penalty = mispredict_cycles(cpu)
        self.mca = llvm_mca_path()
        self._decoder: object | None = None  # capstone, AT&T syntax: on the first miss
        #: block digest -> (cycle units | RECORD_BRANCH if it ends with a conditional
        #: branch, instructions)
        self._cycles: dict[int, tuple[int, int]] = {}
        #: The disk cache's records, digest -> cycles | count << COUNT_SHIFT, looked up
        #: on a miss in ``_cycles``: built from two strided slices of the file's words,
        #: so no Python runs per record; read on the first block the store lacks.
        self._disk: dict[int, int] | None = None
        #: block bytes -> (instructions, cycles): this process's hits, by bytes
        self._priced: dict[bytes, tuple[int, float]] = {}
        self._branches: set[bytes] = set()  # priced blocks that end with a conditional branch
        self._unparsable: set[str] = set()  # instruction texts llvm-mca rejected
        self.runs = 0  #: llvm-mca processes spawned by this coster
        self.regions = 0  #: blocks priced by llvm-mca (not read from a cache)
        self.cache_file = self._cache_file()
        #: ``persist``: blocks by their bytes, as ``simple``'s (:mod:`.blockstore`), kept
        #: between runs: a warm run finds its blocks there without a digest, and reads
        #: the disk cache only for a block it lacks.
        self._store = open_store(costs, self.cache_file.stem) if persist else None

    @property
    def mispredict_cycles(self) -> int:  # type: ignore[override]
        """Cycles charged per mispredicted conditional branch: the core's penalty."""
        return self._penalty

    # -- the disk cache ------------------------------------------------------------
    def _cache_file(self) -> Path:
        info = os.stat(self.mca)
        cpu = self.cpu if self.cpu != NATIVE_CPU else f"{NATIVE_CPU}\0{host_cpu_key()}"
        build = (f"{self.mca}\0{info.st_size}\0{info.st_mtime_ns}\0{cpu}\0{ITERATIONS}"
                 f"\0{CACHE_FORMAT}")
        name = re.sub(r"[^\w.-]", "_", self.cpu)
        return self._cache_dir / f"{name}-{_digest(build.encode()):016x}.bin"

    def _load_disk_cache(self) -> None:
        """Read every record (a torn last one, from a run that died writing, is skipped)."""
        try:
            data = self.cache_file.read_bytes()
        except OSError:
            return
        words = array.array("Q")
        record_bytes = RECORD_WORDS * words.itemsize
        words.frombytes(data[:len(data) - len(data) % record_bytes])
        if sys.byteorder != "little":
            words.byteswap()
        # Backwards, so that of two records of one block the first is kept.
        self._disk = dict(zip(words[-RECORD_WORDS::-RECORD_WORDS],
                              words[::-RECORD_WORDS], strict=True))

    def _known(self, digest: int) -> tuple[int, int] | None:
        """The (cycle units | branch mark, instructions) of a priced block, or None."""
        record = self._cycles.get(digest)
        if record is None:
            if self._disk is None:
                self._disk = {}
                self._load_disk_cache()
            packed = self._disk.get(digest)
            if packed is not None:
                record = self._cycles[digest] = (packed & CYCLES_MASK, packed >> COUNT_SHIFT)
        return record

    def _save(self, new: dict[int, tuple[int, int]]) -> None:
        if not new:
            return
        words = array.array("Q")
        for digest, (cycles, count) in new.items():
            words.extend((digest, cycles | count << COUNT_SHIFT))
        if sys.byteorder != "little":
            words.byteswap()
        records = words.tobytes()
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            # One O_APPEND write of whole records: concurrent runs never interleave one.
            fd = os.open(self.cache_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, records)
            finally:
                os.close(fd)
        except OSError:
            pass  # a read-only cache costs the next run time, never correctness

    # -- pricing ----------------------------------------------------------------
    def cost(self, code: bytes, address: int,
             read: Callable[[int, int], bytes] | None = None) -> tuple[int, float]:
        """(exact instruction count, llvm-mca cycles to 1/``CYCLE_UNITS``) of the block
        ``code``.

        ``read(address, size)``: guest code bytes; on a miss the pages the block
        lies on (already mapped and touched: it runs from them) are read and swept
        for other blocks to price in the same llvm-mca run.
        """
        code = bytes(code)
        known = self._priced.get(code)
        if known is not None:
            return known
        record = self._store.blocks.get(code) if self._store is not None else None
        if record is None:
            digest = _digest(code)
            record = self._known(digest)
            if record is None:
                batch = {digest: (code, address)}
                window = _code_pages(read, address, len(code)) if read is not None else None
                if window is not None:
                    batch.update(self._sweep(*window, address))
                self._price_batch(batch)
                record = self._cycles[digest]
            if self._store is not None:
                self._store.blocks[code] = record
                self._store.added(code, record)
        cycles, count = record
        if cycles & RECORD_BRANCH:
            self._branches.add(code)
        known = (count, (cycles & ~RECORD_BRANCH) / CYCLE_UNITS)
        self._priced[code] = known
        return known

    def ends_with_branch(self, code: bytes) -> bool:
        """Whether ``code`` (priced by :meth:`cost`) ends with a conditional branch."""
        return bytes(code) in self._branches

    def cost_prefix(self, code: bytes, address: int, stop_pc: int) -> tuple[int, float]:
        """The executed part of a block a fault stopped: its share of the block's cycles,
        by the simple model's proportions (so what is taken back never exceeds what was
        charged, and no llvm-mca run is needed on a fault)."""
        code = bytes(code)
        count, whole_cycles = self.cost(code, address)
        simple_count, simple_whole = self._sum(code, address, address + len(code))
        prefix_count, simple_prefix = self._sum(code, address, stop_pc)
        if prefix_count == simple_count:
            return count, whole_cycles
        share = whole_cycles * simple_prefix / max(simple_whole, 1)
        return prefix_count, math.floor(share * CYCLE_UNITS) / CYCLE_UNITS

    @property
    def _att(self):  # type: ignore[no-untyped-def]
        """capstone in AT&T syntax (llvm-mca's input), made on the first miss only."""
        if self._decoder is None:
            from capstone import CS_ARCH_X86, CS_MODE_64, CS_OPT_SYNTAX_ATT, Cs

            decoder = Cs(CS_ARCH_X86, CS_MODE_64)
            decoder.syntax = CS_OPT_SYNTAX_ATT
            decoder.skipdata = True
            self._decoder = decoder
        return self._decoder

    def _sweep(self, window: bytes, base: int, address: int) -> dict[int, tuple[bytes, int]]:
        """Up to ``SWEEP_BLOCKS`` blocks not yet priced that can start in ``window`` at or
        after ``address`` (the miss): after a control transfer or at a direct branch
        target, up to and including the next control transfer. Code near a miss tends
        to run soon after it; what does not is priced for nothing, hence the cap."""
        start_offset = address - base
        insns = list(self._att.disasm_lite(window[start_offset:], address))
        starts = {address}
        ends: list[int] = []  # end address of each control transfer
        for insn_address, size, mnemonic, op_str in insns:
            if _TRANSFER.fullmatch(mnemonic):
                ends.append(insn_address + size)
                starts.add(insn_address + size)
                target = _DIRECT_TARGET.fullmatch(op_str)
                if target:
                    starts.add(int(target.group(1), 16))
        blocks: dict[int, tuple[bytes, int]] = {}
        boundaries = {a for a, *_ in insns}
        end_index = 0
        for start in sorted(starts & boundaries):
            while end_index < len(ends) and ends[end_index] <= start:
                end_index += 1
            if end_index == len(ends) or len(blocks) == SWEEP_BLOCKS:
                break
            block = window[start - base:ends[end_index] - base]
            digest = _digest(block)
            if self._known(digest) is None:
                blocks[digest] = (block, start)
        return blocks

    def _price_batch(self, batch: dict[int, tuple[bytes, int]]) -> None:
        """Price every block of ``batch`` in one llvm-mca run and remember the cycles."""
        for _attempt in range(MAX_PARSE_RETRIES):
            regions: list[str] = []
            fallback: dict[int, int] = {}
            loops: set[int] = set()
            branches: set[int] = set()
            lines: list[str] = []  # assembly line number -> instruction text
            for index, (digest, (code, address)) in enumerate(batch.items()):
                extra, body, loop, branch = self._split(code, address)
                fallback[digest] = extra
                if loop:
                    loops.add(digest)
                if branch:
                    branches.add(digest)
                name = f"b{index}"
                lines.append("")
                regions.append(f"# LLVM-MCA-BEGIN {name}")
                for text in body:
                    lines.append(text)
                    regions.append(text)
                lines.append("")
                regions.append(f"# LLVM-MCA-END {name}")
            source = "\n".join(regions) + "\n"
            result = subprocess.run(
                [self.mca, f"-mcpu={self.cpu}", f"-iterations={ITERATIONS}",
                 "-instruction-info=0", "-resource-pressure=0", "-json", "-"],
                input=source, capture_output=True, text=True, timeout=MCA_TIMEOUT_S)
            self.runs += 1
            rejected = {lines[int(n) - 1] for n in _ERROR_LINE.findall(result.stderr)
                        if 0 < int(n) <= len(lines)}
            if rejected:
                self._unparsable |= rejected
                continue
            if result.returncode != 0:
                raise ConfigError(f"llvm-mca failed: {result.stderr.strip().splitlines()[-1]}")
            per_region = self._parse(result.stdout)
            new = {}
            for index, digest in enumerate(batch):
                looped, throughput = per_region.get(f"b{index}", (0.0, 0.0))
                mca_cycles = looped if digest in loops else throughput
                code, address = batch[digest]
                units = round((mca_cycles + fallback[digest]) * CYCLE_UNITS)
                new[digest] = (max(1, units)
                               | (RECORD_BRANCH if digest in branches else 0),
                               self._sum(code, address, address + len(code))[0])
            self._cycles.update(new)
            self.regions += len(new)
            self._save(new)
            return
        raise ConfigError("llvm-mca rejected the guest's code after "
                          f"{MAX_PARSE_RETRIES} runs; use --cycle-model simple")

    def _split(self, code: bytes, address: int) -> tuple[int, list[str], bool, bool]:
        """(simple cycles of the instructions left out, AT&T text of the rest, whether
        the block ends with a branch back to its own start, whether it ends with a
        conditional branch)."""
        extra = 0
        body: list[str] = []
        loop = branch = False
        fusable = False  # the last instruction analysed is a CMP or TEST that can fuse
        for insn_address, size, mnemonic, op_str in self._att.disasm_lite(code, address):
            if fusable and _FUSES_WITH_COMPARE.fullmatch(mnemonic):
                body.pop()  # one macro-op with this Jcc, which carries the branch's cost
            branch = bool(_CONDITIONAL.fullmatch(mnemonic))
            target = _DIRECT_TARGET.fullmatch(op_str)
            loop = bool(_TRANSFER.fullmatch(mnemonic) and target and
                        int(target.group(1), 16) == address)
            text = f"{mnemonic} {op_str}".strip()
            fusable = False
            if _UNMODELLED.fullmatch(mnemonic) or text in self._unparsable:
                start = insn_address - address
                extra += self._sum(code[start:start + size], insn_address,
                                   insn_address + size)[1]
            else:
                body.append(text)
                fusable = bool(_COMPARE.fullmatch(mnemonic)) and not (
                    "(" in op_str and "$" in op_str)
        return extra, body, loop, branch

    @staticmethod
    def _parse(report: str) -> dict[str, tuple[float, float]]:
        """(simulated cycles per iteration, block reciprocal throughput) of each named
        region of an llvm-mca JSON report (its text report rounds the throughput to
        a tenth of a cycle, which would bias blocks priced to a fraction)."""
        cycles: dict[str, tuple[float, float]] = {}
        for region in json.loads(report).get("CodeRegions", []):
            summary = region.get("SummaryView", {})
            if summary.get("Iterations"):
                cycles[region["Name"]] = (summary["TotalCycles"] / summary["Iterations"],
                                          float(summary.get("BlockRThroughput", 0.0)))
        return cycles


@functools.lru_cache(maxsize=8)
def shared_mca_coster(costs: InstructionCosts = DEFAULT_COSTS,
                      cpu: str = NATIVE_CPU) -> McaBlockCoster:
    """The process-wide llvm-mca coster for one cost table and cpu (see ``shared_coster``),
    with its blocks kept between runs."""
    return McaBlockCoster(costs, cpu, persist=True)


def model_coster(model: str, costs: InstructionCosts = DEFAULT_COSTS,
                 cpu: str = NATIVE_CPU) -> BlockCoster:
    """The shared coster of a cycle model: ``simple`` (the table) or ``mca``."""
    if model == "mca":
        return shared_mca_coster(costs, cpu)
    return shared_coster(costs)
