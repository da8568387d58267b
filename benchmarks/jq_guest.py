"""jq, linked statically, as the benchmarks' fourth real program (issue #17).

Debian ships no static libjq (``libjq-dev`` 1.6 and ``libonig-dev`` hold only
``libjq.so`` and ``libonig.so``), so the jq CLI is built here from source: the
Python binding's source distribution in the package index (``jq`` 1.13.0) bundles
jq's release tarball (1.8.2, with its generated ``configure``, parser and lexer, and
oniguruma in ``vendor/``). :func:`build_jq` fetches that sdist with ``pip download``
(8-12 s; nothing else is built: the binding's own build dependencies come as wheels,
which pip needs to read its metadata), configures jq with the bundled oniguruma,
static libraries only and no documentation, and links the CLI with ``-all-static``
(about 25 CPU-s of fetch, configure and make: 42 s on the 2-core development machine
at load 2, 82 s at load 5-6; no autoreconf, bison or flex: nothing generated is
regenerated). The binary and the sdist are kept in the workloads' cache
(``$COFFERSIM_CACHE`` or ``~/.cache/cofferos-sim/workloads``), the binary's name
carrying a hash of the build's flags and the compiler's version, so later runs reuse
it. Any step that cannot run raises :class:`JqUnavailable`, whose message the
benchmarks skip with. Never used by the tests: only ``benchmarks/``.

The work is a filter over a JSON array of records generated deterministically
(:func:`document`; 48,000 records are about 7 MB, the issue's "jq filter on a 7 MB
JSON") and read from standard input: parsing, ``select`` with an oniguruma
regular expression, ``group_by`` (a sort) and arithmetic; the output is under
2 KB.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from cofferos.workloads import cache_dir

#: The package in the index whose sdist bundles jq's source.
SDIST_NAME = "jq"
SDIST_VERSION = "1.13.0"
#: jq's release tarball inside that sdist.
JQ_TARBALL = "deps/jq-1.8.2.tar.gz"
#: configure's options: the bundled oniguruma, static libraries only, no manual, and
#: nothing regenerated (bison, flex and autoreconf are not needed).
CONFIGURE_OPTIONS = ("--with-oniguruma=builtin", "--disable-shared", "--enable-static",
                     "--disable-docs", "--disable-maintainer-mode", "--disable-valgrind")
#: Baseline x86-64 only (Unicorn runs no AVX), as the workloads are built.
CFLAGS = "-O2 -march=x86-64 -mtune=generic"
#: libtool's flag for a fully static executable.
MAKE_OPTIONS = ("LDFLAGS=-all-static",)
FETCH_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 1800
#: Hex digits of the build hash kept in the binary's name.
HASH_DIGITS = 16
#: Random bytes in the name of the binary before it is moved into place.
TEMP_TOKEN_BYTES = 8
#: Lines of a failed step's output quoted in the reason.
LOG_TAIL_LINES = 5

#: (small, large) records of the JSON document: the difference is about 6.8 MB.
RECORDS = (2_000, 48_000)
#: The filter jq runs, with ``-c`` (one line of output).
FILTER = ('map(select(.active and (.name | test("^(coffer|kernel)-")))) | group_by(.group)'
          ' | map({group: .[0].group, n: length, mean: (map(.score) | add / length | floor),'
          ' tags: (map(.tags[]) | unique)})')
WORDS = ("coffer", "kernel", "state", "object", "page", "fault", "system", "call", "clock",
         "lock", "inode", "pipe")
#: Knuth's MMIX linear congruential generator (the uarch loops use the same).
LCG_MULTIPLIER = 6364136223846793005
LCG_INCREMENT = 1442695040888963407
LCG_MODULUS = 2**64
LCG_SHIFT = 33  #: the high bits are the random ones
NAME_WORDS = 3
MAX_TAGS = 5
SCORE_RANGE = 100_000  #: scores are 0.00 to 999.99
SCORE_SCALE = 100
INACTIVE_ONE_IN = 3


class JqUnavailable(RuntimeError):
    """jq cannot be built here; the message says why (the benchmarks skip with it)."""


def arguments() -> list[str]:
    """jq's arguments after the program's path; the document comes on standard input."""
    return ["-c", FILTER]


def document(records: int) -> bytes:
    """A JSON array of ``records`` objects, the same bytes on every call."""
    state = 12345

    def draw(bound: int) -> int:
        nonlocal state
        state = (state * LCG_MULTIPLIER + LCG_INCREMENT) % LCG_MODULUS
        return (state >> LCG_SHIFT) % bound

    def word() -> str:
        return WORDS[draw(len(WORDS))]

    rows = [{"id": i, "name": "-".join(word() for _ in range(NAME_WORDS)), "group": word(),
             "score": draw(SCORE_RANGE) / SCORE_SCALE, "active": draw(INACTIVE_ONE_IN) != 0,
             "tags": [word() for _ in range(draw(MAX_TAGS))]} for i in range(records)]
    return json.dumps(rows, indent=1).encode()


def _tail(text: str) -> str:
    """The error lines of a step's output, or its last lines when none says error."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return " / ".join((errors or lines)[-LOG_TAIL_LINES:])


def _run(command: list[str], cwd: Path, timeout: float, what: str,
         env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as err:
        raise JqUnavailable(f"{what} took over {timeout:.0f} s") from err
    if done.returncode != 0:
        raise JqUnavailable(f"{what} failed (exit {done.returncode}): "
                            f"{_tail(done.stdout + done.stderr)}")


def _build_hash() -> str:
    compiler = subprocess.run(["gcc", "--version"], capture_output=True, text=True,
                              check=True).stdout
    key = "\n".join([SDIST_VERSION, JQ_TARBALL, *CONFIGURE_OPTIONS, CFLAGS, *MAKE_OPTIONS,
                     compiler])
    return hashlib.sha256(key.encode()).hexdigest()[:HASH_DIGITS]


def _sdist(cache: Path) -> Path:
    """The binding's sdist, fetched once into ``cache/sdist`` with pip."""
    folder = cache / "sdist"
    found = sorted(folder.glob(f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as temporary:
        # --no-binary for jq alone: its build dependencies (Cython) come as wheels,
        # which pip needs only to read the sdist's metadata.
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
              SDIST_NAME, "--disable-pip-version-check", "-d", temporary,
              f"{SDIST_NAME}=={SDIST_VERSION}"], folder, FETCH_TIMEOUT_S,
             f"fetching the {SDIST_NAME} {SDIST_VERSION} sdist with pip download")
        fetched = Path(temporary) / f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"
        if not fetched.exists():
            raise JqUnavailable(f"pip download left no {fetched.name}")
        target = folder / fetched.name
        os.replace(fetched, target)
    return target


def _extract_jq(sdist: Path, where: Path) -> Path:
    """jq's source tree, from the tarball inside the sdist, under ``where``."""
    with tarfile.open(sdist) as outer:
        member = next((m for m in outer.getmembers() if m.name.endswith("/" + JQ_TARBALL)),
                      None)
        if member is None:
            raise JqUnavailable(f"{sdist.name} holds no {JQ_TARBALL}")
        inner = outer.extractfile(member)
        assert inner is not None
        with tarfile.open(fileobj=inner, mode="r:gz") as source:
            # The "tar" filter (Python >= 3.11.4) refuses members outside ``where``.
            safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            source.extractall(where, **safe)
    return where / Path(JQ_TARBALL).name.removesuffix(".tar.gz")


def build_jq() -> Path:
    """A static ``jq`` CLI built from the sdist's bundled source, cached."""
    for tool in ("gcc", "make"):
        if shutil.which(tool) is None:
            raise JqUnavailable(f"{tool} is not installed (apt-get install gcc make)")
    cache = cache_dir()
    binary = cache / f"jq-{SDIST_VERSION}-{_build_hash()}"
    if binary.exists():
        return binary
    sdist = _sdist(cache)
    with tempfile.TemporaryDirectory(prefix="jq-build-") as temporary:
        tree = _extract_jq(sdist, Path(temporary))
        env = {**os.environ, "CFLAGS": CFLAGS}
        _run(["./configure", *CONFIGURE_OPTIONS], tree, BUILD_TIMEOUT_S,
             "jq's configure", env)
        _run(["make", f"-j{os.cpu_count() or 1}", *MAKE_OPTIONS], tree, BUILD_TIMEOUT_S,
             "jq's make", env)
        staged = cache / f".{binary.name}.{secrets.token_hex(TEMP_TOKEN_BYTES)}"
        shutil.copy2(tree / "jq", staged)
        os.replace(staged, binary)
    return binary


if __name__ == "__main__":
    print(build_jq())
