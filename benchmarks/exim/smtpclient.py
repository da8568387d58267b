"""An smtpbm-like SMTP client for measure.sh: COUNT messages to 127.0.0.1:PORT.

As MOSBENCH's smtpbm.c (its do1): a connection (TCP_NODELAY) per 10 messages, HELO, then
for each message MAIL FROM, RCPT TO and DATA (each answered) and the message's lines, one
write a line, then QUIT. usage: smtpclient.py PORT COUNT [RECIPIENT]
"""

from __future__ import annotations

import socket
import sys
from typing import TextIO

MESSAGES_PER_CONNECTION = 10
HOST = "127.0.0.1"
SENDER = "mosbench@mosbench.org"


def reply(replies: TextIO, code: str) -> None:
    """Read one (possibly multi-line) reply; it must start with the digit code."""
    while True:
        line = replies.readline()
        if not line.startswith(code):
            raise SystemExit(f"smtpclient: unexpected reply {line!r}")
        if line[3:4] != "-":
            return


def send(sock: socket.socket, text: str) -> None:
    sock.sendall((text + "\r\n").encode())


def connection(port: int, messages: int, rcpt: str) -> None:
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    replies = sock.makefile("r", newline="\r\n")
    reply(replies, "2")
    send(sock, "HELO smtpbm.foo.edu")
    reply(replies, "2")
    for _ in range(messages):
        for command, code in ((f"MAIL FROM:<{SENDER}>", "2"),
                              (f"RCPT TO:<{rcpt}@mosbench.org>", "2"), ("DATA", "3")):
            send(sock, command)
            reply(replies, code)
        for line in (f"From: {SENDER}", f"To: {rcpt}@mosbench.org", "", "the body", "."):
            send(sock, line)
        reply(replies, "2")
    send(sock, "QUIT")
    reply(replies, "2")
    sock.close()


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    rcpt = sys.argv[3] if len(sys.argv) > 3 else "0"
    for first in range(0, count, MESSAGES_PER_CONNECTION):
        connection(port, min(MESSAGES_PER_CONNECTION, count - first), rcpt)
    print("sent", count)


if __name__ == "__main__":
    main()
