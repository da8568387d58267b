"""veth pairs between network namespaces (issue #14): what a container runtime does to
connect a namespace it made to its parent, compared with the native kernel's answers.

``tests/procsys/veth.c`` runs natively as root and in a coffer and must print the same:
a pair made by RTM_NEWLINK with its peer in a child's namespace (IFLA_NET_NS_PID), the
interface indexes, IFLA_LINK and IFLA_LINK_NETNSID of each end, addresses by
RTM_NEWADDR and SIOCSIFADDR (EADDRNOTAVAIL before), the routes the kernel makes for
them and a default route by RTM_NEWROUTE, TCP and UDP across the pair both ways,
RTM_DELLINK of one end taking both, an end moved by IFLA_NET_NS_FD and deleted from
its new namespace (renamed there), a pair gone with the namespace of one end, and CAP_NET_ADMIN
counted in the user namespace owning the namespace. A busybox script does it as a
rootless runtime would (``unshare -r -n``, ``ip link add``, ``ip link set ... netns``,
``nsenter``, nc between the namespaces), busybox 1.35's unnamed peer included
(natively ``File exists``), and so does a script of this machine's iproute2 and
util-linux tools.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.rootfs import (
    busybox_rootfs,
    host_applet_dir,
    run_busybox_in_coffer,
    run_busybox_native,
)
from tests.support import needs_gcc
from tests.test_dynamic_programs import ENV, check_same
from tests.test_namespaces import run_guest_both

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="natively, network namespaces need root")


@needs_gcc
@needs_root
def test_veth_pairs_between_namespaces_match_native(tmp_path: Path) -> None:
    out, native, status, native_status = run_guest_both("veth.c", tmp_path)
    for line in ("parent: add it again: EEXIST",
                 "  2: veth0@2 netnsid 0 kind veth type 1 mtu 1500 up 0",
                 "parent: bind 192.168.77.1 before it has it: EADDRNOTAVAIL",
                 "parent: RTM_DELADDR it again: EADDRNOTAVAIL",
                 "  192.168.77.2/24 brd 192.168.77.255 scope 0 dev 2",
                 "  table 254 192.168.77.0/24 via - src 192.168.77.1 type 1 scope 253 proto 2"
                 " dev 2",
                 "parent: accepted from 192.168.77.2:ephemeral",
                 "child: read 4 \"pong\"",
                 "parent: udp 4 \"pong\" from 192.168.77.2",
                 "child: udp to 10.9.9.9 without a route: ENETUNREACH",
                 "child: veth1 addr 192.168.77.2 family 2 mask 255.255.0.0 family 2 bcast "
                 "192.168.255.255 family 2",
                 "child: SIOCSIFNETMASK veth1 255.0.255.0: EINVAL",
                 "child: veth1 addr ENOTTY mask ENOTTY bcast ENOTTY",
                 "  table 254 0.0.0.0/0 via 192.168.77.1 src - type 1 scope 0 proto 3 dev 2",
                 "child: udp to 10.9.9.9 by it: ok",
                 "parent: delete it again: ENODEV",
                 "parent: bind 192.168.77.1 after: EADDRNOTAVAIL",
                 "  6: veth9@5 netnsid -1 kind veth type 1 mtu 1500 up 0",
                 "  3: veth3@4 netnsid 0 kind veth type 1 mtu 1500 up 0",
                 "child: rename eth0 to lo: EEXIST",
                 "  3: eth1@4 netnsid 0 kind veth type 1 mtu 1500 up 1",
                 "parent: add vethG at index 42: EEXIST",
                 "  40: vethF@42 netnsid -1 kind veth type 1 mtu 1500 up 0",
                 "  10: vethJ@11 netnsid -1 kind veth type 1 mtu 1500 up 0",
                 " vethE:       0       0    0    0    0     0          0         0        0"
                 "       0    0    0    0     0       0          0",
                 "parent: vethA and vethD gone with the child's namespace 1",
                 "nobody: add a veth pair here: EPERM",
                 "nobody: add a veth pair there: ok"):
        assert line in native.splitlines(), (line, native)
    assert out == native
    assert status == native_status == 0


#: A rootless runtime's setup: a pair (busybox 1.35 leaves the peer unnamed: the first
#: try clashes, natively too), one end moved into a second namespace, addresses,
#: routes, a server in the second namespace reached from the first, the pair deleted.
#: The second namespace's end is set up by ifconfig (SIOCSIFADDR, SIOCSIFNETMASK).
#: MAC addresses (random natively) and IPv6 link-local addresses (not modelled) are
#: not printed.
VETH_SCRIPT = r"""unshare -r -n sh -c '
ip link add veth0 type veth peer name veth1; echo "status $?"
ip link add v0 type veth; echo "status $?"
ip link | grep -v link/
unshare -n sleep 3 & here=$(readlink /proc/self/ns/net)
until [ "$(readlink /proc/$!/ns/net)" != "$here" ]; do sleep 0.1; done
ip link set veth0 netns $!; echo "status $?"
ip link set lo up; ip addr add 192.168.77.1/24 dev v0; ip link set v0 up
nsenter -t $! -n sh -c "ip link set lo up; ifconfig veth0 192.168.77.2 netmask 255.255.255.128 up
ifconfig veth0 netmask 255.255.255.0; ip route add default via 192.168.77.1
ip link | grep -v link/
ip -4 addr; ip route; touch ready; nc -l -p 7000 -e echo served" &
until [ -e ready ]; do sleep 0.1; done; sleep 0.2
ip -4 addr; ip route
nc 192.168.77.2 7000 </dev/null; echo "status $?"
ip link del v0; echo "status $?"
ip link | grep -v link/
wait
'
echo "status $?"
"""


@needs_root
def test_busybox_veth_between_namespaces_as_natively(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    native = run_busybox_native(VETH_SCRIPT, cwd=workdir, applets=host_applet_dir(tmp_path))
    coffer = run_busybox_in_coffer(VETH_SCRIPT, root=root)
    lines = native.stdout.decode().splitlines()
    assert lines[:2] == ["status 2", "status 0"], lines
    assert "3: veth0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue " \
        "qlen 1000" in lines, lines
    assert "default via 192.168.77.1 dev veth0 " in lines and "served" in lines, lines
    assert "    inet 192.168.77.2/24 brd 192.168.77.255 scope global veth0" in lines, lines
    assert native.stderr == b"ip: RTNETLINK answers: File exists\n", native.stderr
    assert (coffer.status, coffer.stdout) == (native.status, native.stdout), coffer
    assert coffer.stderr == native.stderr


#: The same with this machine's own dynamically linked tools (util-linux's unshare and
#: nsenter, iproute2's ip, dash) under ``--rootfs /``: the peer moved by pid and
#: renamed eth0 inside, as runtimes name it. iproute2 prints the operational state,
#: which natively follows a link change a moment later (linkwatch): it is cut.
IPROUTE2_SCRIPT = r"""unshare -r -n sh -c '
ip link add veth0 type veth peer name veth1; echo "made $?"
unshare -n sleep 3 & here=$(readlink /proc/self/ns/net)
until [ "$(readlink /proc/$!/ns/net)" != "$here" ]; do sleep 0.1; done
ip link set veth1 netns $!; echo "moved $?"
ip addr add 192.168.77.1/24 dev veth0; ip link set veth0 up
nsenter -t $! -n sh -c "ip link set veth1 name eth0; ip addr add 192.168.77.2/24 dev eth0
ip link set eth0 up; ip route add default via 192.168.77.1; echo \"inside $?\"
ip -o -4 addr; ip route; ip -o link | sed \"s/link.ether.*//; s/state [A-Z]* //\""
ip -o link | sed "s/link.ether.*//; s/state [A-Z]* //"; ip -o -4 addr; ip route
ip link del veth0; echo "deleted $?"; ip -o link | sed "s/link.ether.*//"
wait'
"""


@needs_root
def test_iproute2_veth_between_namespaces_as_natively() -> None:
    for tool in ("ip", "nsenter", "unshare", "sed"):
        if shutil.which(tool, path=ENV["PATH"]) is None:
            pytest.skip(f"{tool} is not installed")
    coffer = check_same(["/bin/sh", "-c", IPROUTE2_SCRIPT])
    lines = coffer.stdout.decode().splitlines()
    assert lines[:3] == ["made 0", "moved 0", "inside 0"], lines
    assert "default via 192.168.77.1 dev eth0 " in lines, lines
    assert any(line.startswith("2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 "
                               "qdisc noqueue mode DEFAULT group default") for line in lines)
    assert "deleted 0" in lines, lines


#: iproute2's named namespaces: ``ip netns add`` bind-mounts the new namespace's nsfs
#: file (which holds it after ``ip`` exits, and after nsenter's last process in it
#: exits: the pair stays), the peer goes there by that file, and the
#: ids each side knows the other by come back by RTM_GETNSID (``ip netns list``,
#: ``list-id``, and the ``@if2`` of ``ip link``). ``ip netns exec`` is left out: it
#: mounts a sysfs, which a coffer does not have.
IP_NETNS_SCRIPT = r"""unshare -r -m -n sh -c '
mount -t tmpfs tmpfs /run; ip netns add a; echo "add $?"
ip link add v0 type veth peer name v1 netns a; echo "link $?"
ip -o link | sed "s/link.ether.*//"; ip netns list; ip netns list-id; ip netns identify $$
nsenter --net=/run/netns/a ip -o link | sed "s/link.ether.*//"
ip -o link | sed "s/link.ether.*//"'
"""


@needs_root
def test_iproute2_named_namespaces_as_natively() -> None:
    for tool in ("ip", "nsenter", "unshare", "sed", "mount"):
        if shutil.which(tool, path=ENV["PATH"]) is None:
            pytest.skip(f"{tool} is not installed")
    coffer = check_same(["/bin/sh", "-c", IP_NETNS_SCRIPT])
    lines = coffer.stdout.decode().splitlines()
    assert lines[:2] == ["add 0", "link 0"], lines
    assert "a (id: 0)" in lines and "nsid 0 (iproute2 netns name: a)" in lines, lines
    assert any(line.startswith("2: v1@if2: ") for line in lines), lines
    assert lines[-1].startswith("2: v0@if2: "), lines
