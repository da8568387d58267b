"""/proc/PID/net (and /proc/net, a link to self/net): the task's network namespace
(net/core/net-procfs.c, net/ipv6/addrconf.c).

* ``dev``: one line per device with its counters, as dev_seq_show prints them;
  the model counts no traffic, so they stay 0 (Linux counts lo's packets);
* ``if_inet6``: one line per IPv6 address (address, device index, prefix, scope,
  flags, device), as if6_seq_show prints them; none while lo is down.

The devices are the namespace's own (:mod:`cofferos.coffers.net.netdev`), so a
process in a network namespace it made sees only its lo. The other files of
Linux's /proc/net (tcp, udp, unix, route, snmp ...) are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.net.netdev import net_devices
from cofferos.coffers.net.sockaddr import AF_INET6
from cofferos.coffers.syscalls.nsproxy import net_ns_of

if TYPE_CHECKING:
    from cofferos.coffers.fs import Inode
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

DEV_HEADER = ("Inter-|   Receive                                                |  Transmit\n"
              " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets"
              " errs drop fifo colls carrier compressed\n")
#: dev_seq_printf_stats: the name, then 8 receive and 8 transmit counters.
DEV_WIDTHS = (8, 7, 4, 4, 4, 5, 10, 9, 8, 7, 4, 4, 4, 5, 7, 10)
DEV_NAME_WIDTH = 6
IFA_F_PERMANENT = 0x80
IFA_GLOBAL, IFA_HOST, IFA_LINK = 0x00, 0x10, 0x20  #: net/ipv6/addrconf.c's address scopes
IFNAME_WIDTH = 8  #: if6_seq_show's "%8s"


def dev(ns: NetNamespace) -> str:
    lines = [DEV_HEADER]
    for device in net_devices(ns):
        counters = " ".join(f"{0:>{width}}" for width in DEV_WIDTHS)
        lines.append(f"{device.name:>{DEV_NAME_WIDTH}}:{counters}\n")
    return "".join(lines)


def if_inet6(ns: NetNamespace) -> str:
    lines = []
    for device in net_devices(ns):
        for addr in device.addrs:
            if addr.family == AF_INET6:
                scope = IFA_HOST if addr.address.is_loopback else \
                    IFA_LINK if addr.address.is_link_local else IFA_GLOBAL
                lines.append(f"{addr.address.packed.hex()} {device.index:02x} "
                             f"{addr.prefixlen:02x} {scope:02x} {IFA_F_PERMANENT:02x} "
                             f"{device.name:>{IFNAME_WIDTH}}\n")
    return "".join(lines)


def net_dir(procfs: ProcFs, task: Task) -> Inode:
    """/proc/PID/net of ``task``: what its network namespace shows."""
    def of(show: Callable[[NetNamespace], str]) -> Inode:
        return procfs.text(lambda: show(net_ns_of(procfs.live(task))))

    entries = [("dev", of(dev)), ("if_inet6", of(if_inet6))]
    return procfs.directory(lambda: entries)
