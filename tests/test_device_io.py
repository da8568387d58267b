"""VM exits for device I/O are charged where a device is reached, not by call name.

A VM exits to its VMM when the guest kernel reaches a virtio device (a page-cache
miss on the disk, a message through the virtual NIC, the console), not when it
reads or writes a tmpfs file, a pipe or /dev/coffer/ops: those stay inside the
guest kernel (cofferos.coffers.devio). These tests run the same workload with the
VM's default ``io_exit`` and with none, and with a native twin of the device-I/O
workload where one exists.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.devio import VIRTIO_BLK, VIRTIO_CONSOLE
from cofferos.sim.kernels import VM_EXIT_USER_VMM
from cofferos.sim.machine import NS_PER_SECOND, Machine, MachineConfig, MachineResult
from cofferos.timing import kernel_costs
from cofferos.workloads import build

NO_IO_EXIT = "arch.io_exit=0"
METADATA_ITERATIONS = "60"
STREAM_PAGES = 256  #: a 1 MiB file: every pread of the storm's stream misses the cache
STORM_ITERATIONS = "8"


def _run(program: str, args: list[str], overrides: list[str],
         config: CofferConfig | None = None) -> tuple[Coffer, MachineResult]:
    base = config or CofferConfig()
    coffer = Coffer(replace(base, kernel_costs=kernel_costs(overrides)), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(str(build(program)), [program, *args])
    result = Machine(MachineConfig(cores=1, kernel="vm"), [coffer]).run()
    assert coffer.result().exit_code == 0, coffer.stderr.getvalue()  # type: ignore[attr-defined]
    return coffer, result


def test_tmpfs_files_and_pipes_cost_a_vm_no_exit() -> None:
    """@metadata (create, write, read, stat, unlink on tmpfs, a mark on /dev/coffer/ops
    each iteration) reaches no device but the console, for its one summary line: every
    operation ends at the same simulated time with or without an I/O exit, and the run
    differs by exactly that one console exit."""
    args = ["/tmp/shared", METADATA_ITERATIONS]
    charged, with_exit = _run("metadata", args, [])
    free, without = _run("metadata", args, [NO_IO_EXIT])
    assert charged.stats.device_io == {VIRTIO_CONSOLE: 1}
    assert charged.stats.ops == free.stats.ops  # every operation mark, to the nanosecond
    assert len(charged.stats.ops) == int(METADATA_ITERATIONS)
    exit_ns = VM_EXIT_USER_VMM * NS_PER_SECOND / charged.config.kernel_costs.frequency_hz
    assert with_exit.elapsed_ns - without.elapsed_ns == pytest.approx(exit_ns)
    virt = with_exit.times[charged.config.name].virtualization
    assert virt == pytest.approx(exit_ns)  # reported as virtualization, not kernel time
    assert without.times[free.config.name].virtualization == 0


def test_disk_reads_that_miss_the_page_cache_exit_to_the_vmm(tmp_path: Path) -> None:
    """@storm pagecache reads a file of the imported image (the VM's disk) that does not
    been read yet: each pread misses, is one virtio-blk request, and pays an exit."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "stream.bin").write_bytes(bytes(range(256)) * (STREAM_PAGES * 16))
    config = CofferConfig(rootfs=str(tmp_path))
    args = ["pagecache", STORM_ITERATIONS, "/data/stream.bin"]
    charged, with_exit = _run("storm", args, [], config)
    free, without = _run("storm", args, [NO_IO_EXIT], config)
    requests = charged.stats.device_io[VIRTIO_BLK]
    assert requests == int(STORM_ITERATIONS)  # each pread of the first pass misses
    assert charged.stats.device_io == free.stats.device_io  # same requests, other price
    exit_ns = VM_EXIT_USER_VMM * NS_PER_SECOND / charged.config.kernel_costs.frequency_hz
    exits = requests + charged.stats.device_io[VIRTIO_CONSOLE]
    assert with_exit.elapsed_ns - without.elapsed_ns == pytest.approx(exits * exit_ns)
    assert with_exit.times[charged.config.name].virtualization == pytest.approx(exits * exit_ns)


def test_other_architectures_count_device_requests_but_charge_no_exit() -> None:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    coffer.spawn(str(build("hello")), ["hello"])
    result = Machine(MachineConfig(cores=1, kernel="linux"), [coffer]).run()
    assert coffer.stats.device_io[VIRTIO_CONSOLE] >= 1
    assert coffer.stats.device_exit_cycles == 0
    assert result.times[coffer.config.name].virtualization == 0


def test_messages_to_another_container_go_through_the_virtual_nic() -> None:
    """tcpclient in one container talks to tcpserver in another: every message it and
    the server send crosses the virtual network (virtio-net), and pays an exit on vm."""
    from cofferos.coffers.devio import VIRTIO_NET
    from cofferos.sim.experiment import ContainerSpec, run_mix

    lines = 20
    specs = [ContainerSpec(str(build("tcpserver")), ()),
             ContainerSpec(str(build("tcpclient")), ("10.0.0.1", "7000", str(lines)))]
    machines: list[Machine] = []
    report = run_mix(specs, kernel="vm", cores=2, prepare=machines.append)
    assert [c.exit_code for c in report.containers] == [0, 0]
    server, client = machines[0].coffers
    assert client.stats.device_io[VIRTIO_NET] == lines  # one message per line
    assert server.stats.device_io[VIRTIO_NET] == lines  # one upper-cased reply each
    exit_cycles = VM_EXIT_USER_VMM * (lines + client.stats.device_io[VIRTIO_CONSOLE])
    assert client.stats.device_exit_cycles == exit_cycles
