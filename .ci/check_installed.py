"""Check that an installed cofferos-sim has every module of the source tree it came from.

    python .ci/check_installed.py REPO     (run from outside REPO, with the venv's python)

Each layer folder of REPO (setup.py's LAYERS) maps to an import name; every
``.py`` file under it must exist in the installed package. Prints what is
missing and exits 1, or prints a count and exits 0.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path


def main(repo: Path) -> int:
    layers = runpy.run_path(str(repo / "setup.py"), run_name="check")["LAYERS"]
    root = importlib.util.find_spec("cofferos")
    if root is None or root.origin is None:
        print("cofferos is not installed", file=sys.stderr)
        return 1
    installed = Path(root.origin).parent
    if installed.resolve().is_relative_to(repo.resolve()):
        print(f"cofferos is imported from the checkout ({installed}), not an install",
              file=sys.stderr)
        return 1
    missing, count = [], 0
    for name, folder in layers.items():
        target = installed.joinpath(*name.split(".")[1:])
        for source in (repo / folder).rglob("*.py"):
            relative = source.relative_to(repo / folder)
            if "__pycache__" in relative.parts:
                continue
            count += 1
            if not (target / relative).is_file():
                missing.append(f"{name}: {relative}")
    if missing:
        print("missing from the installed package:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print(f"installed package has all {count} modules of the source tree")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
