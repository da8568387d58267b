"""Device I/O: the points where a container's kernel reaches a device outside itself.

Most system calls never leave the container's kernel: a read of a tmpfs file, a
pipe, /dev/zero or /dev/coffer/ops is served from kernel memory, under a shared
kernel, in a coffer and inside a VM's guest kernel alike. Only some work reaches
a *device*, and in a VM a device is emulated outside the guest, so reaching it
costs an exit (a virtio queue notification trapped to the VMM). This module names
those points; the handlers call :func:`device_io` where they happen:

* ``virtio-blk``: a page-cache miss on a file imported from the host image (the
  disk), one block request per call that misses (``read_write._page_cache``);
* ``virtio-net``: a message that crosses the virtual network to another container
  (``net/stream.py`` and ``net/dgram.py``, where :class:`VirtualNetwork` carries it);
  loopback and Unix sockets stay inside the kernel;
* ``virtio-console``: a read or write of the container's stdin, stdout or stderr
  (a :class:`~cofferos.coffers.files.HostStream`: the runtime's console or log pipe).

Every request is counted in ``KernelStats.device_io`` under every architecture;
:attr:`Coffer.device_exit_cycles` (set by a timing machine from its architecture's
``io_exit``, 0 elsewhere) is charged to the task for each, and summed in
``KernelStats.device_exit_cycles`` so the machine can report it as virtualization.
Timers, cross-core wake-ups and page-table walks are the other VM exits; they are
charged by the timing machine (:mod:`cofferos.sim.kernels`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

VIRTIO_BLK = "virtio-blk"
VIRTIO_NET = "virtio-net"
VIRTIO_CONSOLE = "virtio-console"
DEVICES = (VIRTIO_BLK, VIRTIO_NET, VIRTIO_CONSOLE)


def device_io(coffer: Coffer, device: str, task: Task | None = None) -> None:
    """One request of ``coffer`` to ``device``: counted, and its exit charged to ``task``
    (default: the coffer's running task) when the coffer's architecture has one."""
    stats = coffer.stats
    stats.device_io[device] = stats.device_io.get(device, 0) + 1
    cycles = coffer.device_exit_cycles
    if not cycles:
        return
    task = task if task is not None else coffer.scheduler.current
    if task is None:  # no call in progress (cannot happen from a handler): nothing to charge
        return
    task.charge(cycles)
    stats.device_exit_cycles += cycles
