"""Extended attributes (coffers/syscalls/xattr.py) against native Linux.

``tests/procsys/xattr.c`` makes every xattr call, its l* and f* forms, the flag
and size errors and the namespaces' permission rules as root and as nobody, in
its working directory: a tmpfs in the coffer, the host's filesystem natively.
The same lines must come out (pipes and /proc included), and the kernel config
must say the calls are there.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.syscalls.table import default_table
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "procsys"
RUN_TIMEOUT_S = 120
XATTR_CALLS = {f"{prefix}{call}xattr" for prefix in ("", "l", "f")
               for call in ("set", "get", "list", "remove")}


@needs_gcc
@pytest.mark.skipif(os.geteuid() != 0, reason="the guest uses trusted.* and setuid: needs root")
def test_xattr_calls_match_native(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "xattr.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = subprocess.run([str(binary)], cwd=workdir, env={}, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name], [])
    result = coffer.run()
    assert result.oopses == []
    assert out.getvalue().decode() == native.stdout.decode()
    assert result.exit_code == native.returncode == 0
    text = out.getvalue().decode()
    assert 'listxattr("f", buf, sizeof buf) = 39: security.s trusted.t user.a user.empty' in text
    assert 'setxattr("f", "trusted.t", "mine", 4, 0) = -1 EPERM' in text
    assert list(workdir.iterdir()) == []


def test_all_twelve_calls_are_registered_and_config_says_so() -> None:
    assert XATTR_CALLS <= set(default_table().implemented())
    coffer = Coffer(CofferConfig())
    config = coffer.fs.open("/proc/config.gz", coffer.fs.root, os.O_RDONLY, 0).read(0, 1 << 20)
    assert "CONFIG_TMPFS_XATTR=y" in gzip.decompress(config).decode().splitlines()
