"""System calls of the coffer kernel, one module per family, named after Linux's sources.

=============  ====================================================
module         Linux source it mirrors
=============  ====================================================
exit           kernel/exit.c (exit, exit_group)
process        kernel/sys.c, arch/x86/kernel/process_64.c (ids, uname, arch_prctl, limits)
time           kernel/time/ (clock_gettime, nanosleep ...)
mmap           mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c
=============  ====================================================

:data:`FAMILIES` lists them in registration order; :func:`table.default_table`
binds each family's handlers into one table. Adding a family is one import here.
"""

from __future__ import annotations

from cofferos.coffers.syscalls import exit, mmap, process, time

FAMILIES = (exit, process, time, mmap)
