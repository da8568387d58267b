"""AF_NETLINK (NETLINK_ROUTE), the coffer's network devices and the interface ioctls,
the host name /etc gives the coffer, and AF_VSOCK with /dev/vsock.

``tests/sockets/netlink.c`` binds netlink sockets, dumps links, addresses and IPv4
routes, asks for one link with an ack, sends what the kernel refuses, and then
calls getifaddrs, if_nameindex, if_nametoindex and if_indextoname. Natively it
runs in a fresh network namespace with lo brought up (``unshare -n``), which is
what a coffer without a network shows, and the two must print the same. On a
virtual network the coffer also has eth0, checked in a coffer alone, and the
kernel side (:mod:`cofferos.coffers.net.rtnetlink`) directly for what a guest
cannot easily reach: EPERM without CAP_NET_ADMIN, dumps longer than a datagram.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.net.netdev import LOOPBACK, NetDevice, net_devices
from cofferos.coffers.net.rtnetlink import (
    IFINFOMSG,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_GOODSIZE,
    NLMSGHDR,
    RTM_GETLINK,
    RTM_NEWLINK,
    nlmsg,
    rtnetlink_rcv,
)
from cofferos.coffers.net.vsock import (
    IOCTL_VM_SOCKETS_GET_LOCAL_CID,
    VMADDR_CID_HOST,
    VsockDeviceFile,
    is_vsock_device,
)
from cofferos.coffers.network import VirtualNetwork
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "sockets"
PORTID = 4321
SEQ = 7
NATIVE_TIMEOUT_S = 60


def _messages(datagram: bytes) -> list[tuple[int, int, bytes]]:
    """(type, flags, payload) of every message in one datagram."""
    found, offset = [], 0
    while offset < len(datagram):
        length, msg_type, flags, seq, portid = NLMSGHDR.unpack_from(datagram, offset)
        assert (seq, portid) == (SEQ, PORTID)
        found.append((msg_type, flags, datagram[offset + NLMSGHDR.size: offset + length]))
        offset += (length + 3) & ~3
    return found


def _request(msg_type: int, flags: int) -> bytes:
    return nlmsg(msg_type, flags, SEQ, 0, IFINFOMSG.pack(0, 0, 0, 0, 0))


def _native_netns() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@needs_gcc
@pytest.mark.skipif(not _native_netns(), reason="natively, a fresh network namespace "
                    "(unshare -n, as root, with ip) is the reference")
def test_guest_matches_native_in_a_fresh_network_namespace(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "netlink.c", tmp_path)
    native = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {binary}"],
                            capture_output=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                            timeout=NATIVE_TIMEOUT_S, check=False, cwd=tmp_path)
    coffer = run_in_coffer(binary, cwd="/tmp")
    assert coffer.result is not None and coffer.result.oopses == []
    assert coffer.result.unimplemented_syscalls == {}
    assert native.returncode == 0, native.stderr
    assert "if_nameindex 1 lo" in native.stdout.decode()
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.status == native.returncode


@needs_gcc
def test_a_coffer_on_a_network_shows_eth0_with_its_address(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "netlink.c", tmp_path)
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(name="n", address="10.0.3.7", cwd="/tmp"),
                    network=VirtualNetwork(), stdin=io.BytesIO(), stdout=out,
                    stderr=out)
    coffer.spawn(str(binary), ["netlink"], [])
    result = coffer.run()
    assert result.exit_code == 0 and result.oopses == []
    text = out.getvalue().decode()
    assert "if_nameindex 2 eth0" in text
    assert "ifaddr eth0 family 2 flags 0x11043 10.0.3.7 netmask family 2 data no" in text
    assert "link index 2 type 1 flags 0x11043 change 0x0 name eth0 txqlen 1000 " \
           "operstate 6 mtu 1500 address 6 bytes broadcast 6 bytes" in text
    assert "addr family 2 prefixlen 24 flags 0x80 scope 0 index 2 address 10.0.3.7 " \
           "local 10.0.3.7 label eth0" in text
    # the routes: the default and the prefix (main table), then the local ones
    routes = [line.split(" RTA_TABLE")[0] for line in text.splitlines()
              if line.startswith("  route") and "index" not in line]
    assert "dst 0" not in "".join(routes)
    assert routes[:2] == ["  route family 2 dst_len 0 table 254 protocol 3 scope 253 type 1",
                          "  route family 2 dst_len 24 table 254 protocol 2 scope 253 type 1"]


def test_a_coffer_without_a_network_has_lo_alone() -> None:
    coffer = Coffer(CofferConfig(name="alone"))
    assert net_devices(coffer.net) == (LOOPBACK,)


def test_changing_a_link_needs_cap_net_admin_and_is_then_refused() -> None:
    request = _request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK)
    for admin, error in ((False, -errno.EPERM), (True, -errno.EOPNOTSUPP)):
        (datagram,) = rtnetlink_rcv(request, PORTID, (LOOPBACK,), admin)
        ((msg_type, flags, payload),) = _messages(datagram)
        assert msg_type == NLMSG_ERROR and flags == 0  # the request echoed whole
        assert struct.unpack_from("<i", payload)[0] == error
        assert payload[4:] == request


def test_a_dump_longer_than_a_datagram_is_split_and_ends_in_done() -> None:
    devices = tuple(NetDevice(index, f"veth{index}", LOOPBACK.type, LOOPBACK.flags,
                              LOOPBACK.mtu, LOOPBACK.operstate, LOOPBACK.hwaddr,
                              LOOPBACK.hwbroadcast, ()) for index in range(1, 60))
    datagrams = rtnetlink_rcv(_request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP), PORTID,
                              devices, False)
    assert len(datagrams) > 2
    assert all(len(datagram) <= NLMSG_GOODSIZE for datagram in datagrams)
    messages = [message for datagram in datagrams for message in _messages(datagram)]
    assert [m[0] for m in messages] == [RTM_NEWLINK] * len(devices) + [NLMSG_DONE]
    assert all(flags == NLM_F_MULTI for _, flags, _ in messages)
    assert _messages(datagrams[-1]) == [(NLMSG_DONE, NLM_F_MULTI, bytes(4))]  # alone
    indexes = [IFINFOMSG.unpack_from(payload)[2] for _, _, payload in messages[:-1]]
    assert indexes == list(range(1, 60))


def test_messages_that_are_not_requests_get_no_answer_unless_acked() -> None:
    assert rtnetlink_rcv(_request(RTM_GETLINK, NLM_F_DUMP), PORTID, (LOOPBACK,), True) == []
    truncated = _request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP)[:-1]
    assert rtnetlink_rcv(truncated, PORTID, (LOOPBACK,), True) == []


# --- the coffer's host name in /etc -------------------------------------------------------


@pytest.mark.parametrize(("network", "address"), [(False, "127.0.1.1"), (True, "10.0.4.2")])
def test_the_rootfs_names_the_coffers_host_not_the_hosts(tmp_path: Path, network: bool,
                                                         address: str) -> None:
    """Over a root that brings its own /etc/hostname and /etc/hosts (``--rootfs /``
    brings the host's), the coffer writes its own, as Docker does: CPython's
    testHostnameRes and testSockName skipped when gethostbyname(gethostname())
    found nothing. The host's files stay as they were."""
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "hostname").write_text("the-host\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.0.1 the-host\n")
    coffer = Coffer(CofferConfig(name="h", hostname="box", address="10.0.4.2",
                                 rootfs=str(tmp_path / "root")),
                    network=VirtualNetwork() if network else None)
    fs = coffer.fs
    assert fs.lookup("/etc/hostname", fs.root).read(0, 100) == b"box\n"
    hosts = fs.lookup("/etc/hosts", fs.root).read(0, 1000).decode()
    assert f"{address}\tbox\n" in hosts and "127.0.0.1\tlocalhost\n" in hosts
    assert "the-host" not in hosts
    assert (etc / "hostname").read_text() == "the-host\n"


# --- AF_VSOCK -----------------------------------------------------------------------------


@needs_gcc
@pytest.mark.skipif(not os.path.exists("/dev/vsock"),
                    reason="natively, the vsock core (/dev/vsock) is the reference")
def test_vsock_guest_matches_native(tmp_path: Path) -> None:
    """A coffer's vsock is a host's with no virtual machine running: sockets,
    options and bind work, nothing can be reached (ENODEV), as natively."""
    binary = compile_guest(GUESTS / "vsock.c", tmp_path)
    native = run_native(binary, cwd=tmp_path)
    coffer = run_in_coffer(binary, cwd="/tmp")
    assert coffer.result is not None and coffer.result.oopses == []
    assert native.status == 0, native.stderr
    assert "local cid is a real one: yes" in native.stdout.decode()
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.status == native.status


def test_vsock_reports_the_hosts_cid_so_guest_only_tests_skip() -> None:
    coffer = Coffer(CofferConfig(name="v"))
    inode = coffer.fs.lookup("/dev/vsock", coffer.fs.root)
    assert is_vsock_device(inode)
    assert VsockDeviceFile(inode, os.O_RDONLY, "/dev/vsock").local_cid(
        IOCTL_VM_SOCKETS_GET_LOCAL_CID) == VMADDR_CID_HOST == 2
