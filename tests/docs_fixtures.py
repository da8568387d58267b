"""Files the documents' examples expect (made by a command the tests cannot run, such as
docker, or the small stand-in of a large input): one function per document, run in
its temporary directory before its examples, returning entries for the Python path.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _image_files(workdir: Path) -> list[str]:
    """docs/images.md's busybox.tar, flat.tar and ./unpacked-root, as docker would write
    them (from the host's static busybox, tests/images.py), with an /etc/passwd to cat."""
    from tests import images
    from tests.rootfs import BUSYBOX

    if not BUSYBOX.is_file():
        return []  # the block says `requires /bin/busybox` and is skipped

    passwd = images.tar_bytes(lambda archive: (
        images.add_dir(archive, "etc"),
        images.add_file(archive, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")))
    images.docker_save(workdir / "busybox.tar",
                       [images.lower_layer(), images.upper_layer(), passwd])
    images.flat_export(workdir / "flat.tar")
    images.merged_tree(workdir / "unpacked-root")
    return []


#: The small stand-in for workloads/specs/scaling.toml: the same spec, smaller numbers.
SMALL_SCALING = (('args = ["/tmp/shared", "300"]', 'args = ["/tmp/shared", "20"]'),
                 ("cores = 16", "cores = 2"),
                 ('kernel = ["linux", "cofferos", "vm", "sandbox"]',
                  'kernel = ["linux", "cofferos"]'),
                 ("containers = [1, 4, 8, 16]", "containers = [1, 2]"))


def _small_scaling(workdir: Path) -> list[str]:
    """scaling-small.toml: workloads/specs/scaling.toml with :data:`SMALL_SCALING`'s
    smaller numbers (4 points of 20 iterations instead of 16 of 300)."""
    spec = (ROOT / "workloads" / "specs" / "scaling.toml").read_text()
    for old, new in SMALL_SCALING:
        if old not in spec:
            raise AssertionError(f"workloads/specs/scaling.toml no longer has {old!r}: "
                                 "update SMALL_SCALING in tests/docs_examples.py")
        spec = spec.replace(old, new)
    (workdir / "scaling-small.toml").write_text(spec)
    return []


def _counter(workdir: Path) -> list[str]:
    """docs/personalities.md's counter and its guest: docs/examples/cofferos-counter made
    importable with its entry point (a dist-info beside the package, nothing installed),
    and ``./asks``, the guest of tests/test_third_party_personality.py."""
    from tests.support import compile_guest
    from tests.test_third_party_personality import ASKS, EXAMPLE

    site = workdir / "site"
    shutil.copytree(EXAMPLE / "cofferos_counter", site / "cofferos_counter")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
                     for group, entries in project["entry-points"].items())
    info.joinpath("entry_points.txt").write_text(points)
    source = workdir / "asks.c"
    source.write_text(ASKS)
    compile_guest(source, workdir)
    return [str(site)]


#: Files a document's examples expect to exist (made by a command the tests cannot run,
#: or the small stand-in of a large input).
FIXTURES = {"docs/images.md": _image_files, "README.md": _small_scaling,
            "docs/sweeps.md": _small_scaling, "docs/personalities.md": _counter}
