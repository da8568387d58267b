"""The block costs kept between runs: block bytes -> (instructions, cycles).

Costing a block decodes it with capstone; a short run such as ``@hello`` or a
static ``true`` translates about a thousand blocks, and their first costing plus
importing capstone was about a fifth of its start-up (issue #17). A block's
price is a pure function of its bytes and the cost table, so the process-wide
costers (:func:`cofferos.isa.costs.shared_coster`) start from what earlier runs
costed, and what a run adds is written back when the process exits.

The file lives in the user cache (``$COFFERSIM_CACHE/blockcosts`` or
``~/.cache/cofferos-sim/blockcosts``), one per key: a hash of the cost table,
the pricing code (:mod:`cofferos.isa.pricing`) and the capstone installed, so a
changed table, rule or decoder starts a fresh file and never reuses a stale price.
It is written to a unique temporary name and moved into place, merged with
what other processes wrote meanwhile, and capped at :data:`MAX_BLOCKS` entries
(past that, the oldest blocks give way to the newest, so loading stays cheap
and a new program's blocks are still kept).
Any error reading or writing it only means costing blocks again: the cache is
never required.
``COFFERSIM_BLOCK_CACHE=0`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import marshal
import os
import secrets
from pathlib import Path

from .cost_table import InstructionCosts

CACHE_ENV = "COFFERSIM_CACHE"
SWITCH_ENV = "COFFERSIM_BLOCK_CACHE"  #: "0" turns the persistent cache off
#: At most this many blocks in a file: about 600 kB, 5-7 ms to load (a start-up of
#: @hello translates about 1,000). A long session (the test suite: 140,000) must
#: not make every later start-up load megabytes, so past the cap a file keeps the newest
#: blocks, and a larger file is ignored. (It once kept only the blocks of the latest
#: process, which are all it loaded: a full file was never written again, and every
#: new program imported capstone and costed its blocks on every run.)
MAX_BLOCKS = 16_384
HASH_DIGITS = 16
PRICING_SOURCE = Path(__file__).with_name("pricing.py")

Blocks = dict[bytes, tuple[int, int]]


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    base = Path(override).expanduser() if override else \
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "cofferos-sim"
    return base / "blockcosts"


def _key(costs: InstructionCosts) -> str:
    """What decides every price: the table, the pricing rules, the decoder."""
    h = hashlib.sha256()
    spec = importlib.util.find_spec("capstone")  # found, not imported
    decoder = Path(spec.origin) if spec is not None and spec.origin else None
    info = decoder.stat() if decoder is not None else None
    decoder_id = f"{decoder}\0{info.st_size}\0{info.st_mtime_ns}" if info else "none"
    for part in (repr(costs).encode(), PRICING_SOURCE.read_bytes(), decoder_id.encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:HASH_DIGITS]


def _load(path: Path, key: str) -> Blocks:
    try:
        stored = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key
            and isinstance(stored[1], dict) and len(stored[1]) <= MAX_BLOCKS):
        return {}
    return stored[1]


class BlockCostStore:
    """One cost table's persistent block costs: :attr:`blocks` is the coster's own
    cache, filled from the file; :meth:`save` (at exit) writes back what was added."""

    def __init__(self, costs: InstructionCosts, model: str = "") -> None:
        #: ``model``: what else decides a price, for a cycle model other than the table's
        #: (the ``mca`` model's llvm-mca build and cpu: its disk cache's name).
        self.key = f"{model}-{_key(costs)}" if model else _key(costs)
        self.path = cache_dir() / f"blocks-{self.key}.marshal"
        self.blocks: Blocks = _load(self.path, self.key)
        self._new = 0

    def added(self, code: bytes, cost: tuple[int, int]) -> None:
        """The coster priced a block the file did not have (it is already in blocks)."""
        self._new += 1

    def save(self) -> None:
        if not self._new:
            return
        merged = _load(self.path, self.key)
        merged.update(self.blocks)
        if len(merged) > MAX_BLOCKS:  # the oldest give way: this run's new ones are last
            merged = dict(list(merged.items())[-MAX_BLOCKS:])
        if not merged:
            return
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(marshal.dumps((self.key, merged)))
            os.replace(temporary, self.path)
            self._new = 0
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()


def open_store(costs: InstructionCosts, model: str = "") -> BlockCostStore | None:
    """The persistent store for ``costs`` (and ``model``), saved at exit; None when
    turned off."""
    if os.environ.get(SWITCH_ENV, "1") == "0":
        return None
    try:
        store = BlockCostStore(costs, model)
    except OSError:
        return None
    atexit.register(store.save)
    return store
