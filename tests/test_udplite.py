"""UDP-Lite sockets (IPPROTO_UDPLITE) in a coffer, compared with a native run.

CPython's test_socket runs its UDP tests again over UDP-Lite (113 tests); a coffer
refused the protocol (EPROTONOSUPPORT). The snippet sends over loopback for IPv4
and IPv6, shows that UDP-Lite ports are a space of their own (a UDP socket binds
the same port), and reads SO_PROTOCOL of both.
"""

from __future__ import annotations

from pathlib import Path

from tests.test_dynamic_programs import check_same

SNIPPET = '''
import socket
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    serv = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE)
    serv.bind((host, 0))
    port = serv.getsockname()[1]
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((host, port))
    cli = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE)
    cli.sendto(b"lite", (host, port))
    data, addr = serv.recvfrom(16)
    print(family.name, data, addr[0], serv.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL),
          udp.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))
'''


def test_udplite_datagrams_over_loopback_as_natively(tmp_path: Path) -> None:
    outcome = check_same(["python3", "-c", SNIPPET], cwd=tmp_path)
    assert outcome.stdout.count(b"b'lite'") == 2
