"""Listing /proc/self/fd while closing descriptors skips none, compared with a native run.

CPython's subprocess (``close_fds=True``, its default) closes every descriptor of
the child but ``pass_fds`` by reading /proc/self/fd with getdents64 into a small
buffer and closing each descriptor as it goes. Linux positions /proc/PID/fd's
entries by descriptor number (fd + 2), so the closes do not move the entries not
yet read; positions counted as indexes would skip some, and the child would
inherit them (CPython's test_subprocess test_pass_fds).
"""

from __future__ import annotations

from pathlib import Path

from tests.test_dynamic_programs import check_same

PIPES = 12  # 24 descriptors: more than one small getdents64 buffer holds
SNIPPET = f'''
import os, subprocess, sys
fds = []
for _ in range({PIPES}):
    r, w = os.pipe()
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    fds += [r, w]
child = ("import os\\nfor fd in range(64):\\n try: os.fstat(fd)\\n"
         " except OSError: continue\\n print(fd)")
out = subprocess.run([sys.executable, "-c", child], capture_output=True, close_fds=True,
                     pass_fds=(fds[0],)).stdout
print(fds[0], out.decode().split())
'''


def test_close_fds_closes_every_descriptor_but_pass_fds_as_natively(tmp_path: Path) -> None:
    outcome = check_same(["python3", "-c", SNIPPET], cwd=tmp_path)
    assert outcome.stdout.decode().split()[1:] == ["['0',", "'1',", "'2',", "'3']"]
