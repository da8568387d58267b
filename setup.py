"""The package list of the wheel, found on disk rather than written by hand.

Every layer lives in a top-level folder (``isa/``, ``coffers/`` ...) but is
imported under the ``cofferos`` namespace (``cofferos.isa``, ...), a mapping
setuptools' own ``packages.find`` cannot express. A hand-kept list once missed
``cofferos.coffers.net`` and broke ``pip install .``; this file walks each layer's
folder instead, so a new subpackage is in the wheel the moment it has an
``__init__.py``. Everything else about the distribution is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent

#: Import name of each layer -> the folder it lives in.
LAYERS = {
    "cofferos": "cofferos",
    "cofferos.isa": "isa",
    "cofferos.coffers": "coffers",
    "cofferos.personalities": "personalities",
    "cofferos.sim": "sim",
    "cofferos.workloads": "workloads",
    "cofferos.results": "results",
}


def discover_packages(root: Path = HERE) -> list[str]:
    """Every package under the layers' folders: each folder that has an ``__init__.py``."""
    found = []
    for name, folder in LAYERS.items():
        base = root / folder
        for init in sorted(base.rglob("__init__.py")):
            relative = init.parent.relative_to(base)
            if "__pycache__" in relative.parts:
                continue
            found.append(".".join([name, *relative.parts]))
    return found


if __name__ == "__main__":
    setup(packages=discover_packages(), package_dir=LAYERS)
