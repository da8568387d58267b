"""Sockets: AF_UNIX, TCP and UDP against the host's, and coffers kept apart on the network.

The C guests in ``tests/sockets/`` print every call and its result or errno
name (``check.h`` of the file-call guests): names bound and read back
(getsockname, getpeername, accept, recvfrom), ECONNREFUSED, EADDRINUSE,
EADDRNOTAVAIL, ENOTCONN, EISCONN, EAGAIN of non-blocking calls, EPIPE with and
without SIGPIPE, resets, truncated datagrams, options. Each runs natively (on
the host's real loopback, at a free high port) and in a coffer (on its
simulated loopback), and must print the same. No host socket is opened by the
coffer: the native run is the reference, nothing more.

The isolation tests run several coffers together (:func:`run_coffers`): an
AF_UNIX path or abstract name bound in one coffer cannot be reached from
another, and a TCP port of a coffer is reachable only from coffers on the same
:class:`VirtualNetwork`.
"""

from __future__ import annotations

import io
import re
import signal
import socket
from pathlib import Path

import pytest

import cofferos.coffers
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.functional_machine import run_coffers
from cofferos.coffers.network import VirtualNetwork
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

GUESTS = Path(__file__).parent / "sockets"
COFFER_CWD = "/tmp"
#: The port the guests use inside a coffer; natively a free one is found.
COFFER_PORT = 47123
SERVER_PORT = "7100"
LATENCY_NS = 1000




def _free_port(family: socket.AddressFamily = socket.AF_INET) -> int:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ipv6_loopback() -> bool:
    try:
        _free_port(socket.AF_INET6)
    except OSError:
        return False
    return True


CASES = [("unix", False), ("inet", True), ("inet6", True)]


@needs_gcc
@pytest.mark.parametrize(("guest", "takes_port"), CASES, ids=[c[0] for c in CASES])
def test_guest_matches_native(guest: str, takes_port: bool, tmp_path: Path) -> None:
    if guest == "inet6" and not _ipv6_loopback():
        pytest.skip("the host has no IPv6 loopback")
    binary = compile_guest(GUESTS / f"{guest}.c", tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    family = socket.AF_INET6 if guest == "inet6" else socket.AF_INET
    native_args = [str(_free_port(family))] if takes_port else []
    coffer_args = [str(COFFER_PORT)] if takes_port else []
    native = run_native(binary, native_args, cwd=workdir)
    coffer = run_in_coffer(binary, coffer_args, cwd=COFFER_CWD)
    assert coffer.result is not None
    assert coffer.result.oopses == [], coffer.result.oopses
    assert not coffer.result.deadlocked
    assert coffer.result.unimplemented_syscalls == {}
    assert native.status == 0, native.stderr
    assert coffer.stdout.decode() == native.stdout.decode()
    assert coffer.stderr == native.stderr
    assert coffer.status == native.status
    assert list(workdir.iterdir()) == []


# --- isolation between coffers ----------------------------------------------------------


def _coffer(name: str, address: str, network: VirtualNetwork | None) -> tuple[Coffer, io.BytesIO]:
    out = io.BytesIO()
    config = CofferConfig(name=name, address=address, cwd=COFFER_CWD)
    return Coffer(config, network=network, stdin=io.BytesIO(), stdout=out,
                  stderr=out), out


def _no_host_sockets(*args: object, **kwargs: object) -> None:
    raise AssertionError("a coffer tried to open a host socket")


@needs_gcc
def test_names_and_ports_stay_inside_their_coffer_and_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A serves a path, an abstract name and a TCP port; B shares A's network, C is on
    another network, D has none (and A's address as its own, which routes to itself).
    No host socket is made meanwhile."""
    probe = str(compile_guest(GUESTS / "probe.c", tmp_path))
    monkeypatch.setattr(socket, "socket", _no_host_sockets)
    monkeypatch.setattr(socket, "socketpair", _no_host_sockets)
    net = VirtualNetwork(latency=lambda source, destination, nbytes: LATENCY_NS)
    other_net = VirtualNetwork()
    a, a_out = _coffer("a", "10.0.0.1", net)
    b, b_out = _coffer("b", "10.0.0.2", net)
    c, c_out = _coffer("c", "10.0.0.3", other_net)
    d, d_out = _coffer("d", "10.0.0.1", None)
    names = ["/tmp/iso.sock", "cofferos-iso"]
    a.spawn(probe, ["probe", "serve", *names, SERVER_PORT, "1000"])
    for coffer in (b, c, d):
        coffer.spawn(probe, ["probe", "connect", *names, "10.0.0.1", SERVER_PORT])
    results = run_coffers([a, b, c, d])
    assert a_out.getvalue() == b"serving\n"
    denied = b"path: ENOENT\nabstract: ECONNREFUSED\n"
    assert b_out.getvalue() == denied + b"tcp: connected\nsent 2\n"
    assert c_out.getvalue() == denied + b"tcp: EHOSTUNREACH\n"
    assert d_out.getvalue() == denied + b"tcp: ECONNREFUSED\n"
    for result in results:
        assert result.exit_code == 0 and not result.oopses and not result.deadlocked
    # The one message that crossed the network went through its latency hook.
    assert (net.stats.messages, net.stats.bytes, net.stats.delay_ns) == (1, 2, LATENCY_NS)
    assert other_net.stats.messages == 0


def test_the_kernel_never_imports_the_host_socket_module() -> None:
    kernel = Path(cofferos.coffers.__file__).parent
    for source in kernel.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(import socket\b|from socket import)", text, re.M), source


def test_a_network_address_belongs_to_one_coffer() -> None:
    net = VirtualNetwork()
    Coffer(CofferConfig(name="first", address="10.0.0.5"), network=net)
    with pytest.raises(ValueError, match="already"):
        Coffer(CofferConfig(name="second", address="10.0.0.5"), network=net)
    assert Coffer(CofferConfig(name="private", address="10.0.0.5")).network is None


@needs_gcc
def test_coffers_waiting_on_each_other_forever_are_deadlocked(tmp_path: Path) -> None:
    """Both servers accept forever and nobody connects: both are killed, not hung."""
    probe = str(compile_guest(GUESTS / "probe.c", tmp_path))
    net = VirtualNetwork()
    coffers = [_coffer(f"s{i}", f"10.0.1.{i}", net)[0] for i in (1, 2)]
    for coffer in coffers:
        coffer.spawn(probe, ["probe", "serve", "/tmp/x.sock", "x", SERVER_PORT, "-1"])
    for result in run_coffers(coffers):
        assert result.deadlocked
        assert result.exit_status.signal == signal.SIGKILL
