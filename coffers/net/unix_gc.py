"""Garbage collection of AF_UNIX sockets in flight: Linux's net/unix/garbage.c.

A socket passed with SCM_RIGHTS is held by the message that carries it. If that
message waits in the receive queue of a socket that is itself only in flight (a
socket sent over itself, or two sockets sent each over the other) and every
descriptor is closed, nothing can ever read the message: reference counting alone
never frees them. :func:`unix_gc` finds such cycles as unix_gc does. A candidate
is a socket in flight whose every reference comes from a queued message. The
references that candidates' own queues hold are taken away; a candidate with some
left is held from outside (a queue of a socket a process still has) and is alive,
as is everything in its queue, transitively. The rest are garbage: their queues are
purged, which drops the messages' files and frees the sockets.

It runs when an AF_UNIX socket's descriptor is closed while sockets are in flight
(unix_release_sock calls unix_gc when unix_tot_inflight is non-zero).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from cofferos.coffers.net.dgram import DgramSocket
from cofferos.coffers.net.scm import Scm, discard
from cofferos.coffers.net.stream import StreamSocket

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.net.sock import Socket


def queued_messages(sock: OpenFile) -> list[Scm]:
    """The ancillary data of the messages waiting in ``sock``'s receive queue (and in
    the queues of connections waiting to be accepted)."""
    if isinstance(sock, StreamSocket):
        found = [scm for scm in sock.rx_scm if isinstance(scm, Scm)]
        for child in sock.accept_queue or ():
            found += [scm for scm in child.rx_scm if isinstance(scm, Scm)]
        return found
    if isinstance(sock, DgramSocket):
        return [scm for _, _, scm in sock.queue if isinstance(scm, Scm)]
    return []


def _queued_files(sock: OpenFile) -> list[OpenFile]:
    return [file for scm in queued_messages(sock) for file in scm.files]


def unix_gc(coffer: Coffer) -> int:
    """Free the sockets only cycles of in-flight messages hold; how many were freed."""
    inflight: set[Socket] = coffer.net.unix.inflight
    inflight.difference_update([s for s in inflight if s.refs <= 0])
    if not inflight:
        return 0
    sockets = set(inflight)
    for task in coffer.tasks.values():
        if task.alive:
            sockets.update(e.file for e in task.files.fds.values()
                           if isinstance(e.file, (StreamSocket, DgramSocket)))
    held = Counter(f for sock in sockets for f in _queued_files(sock))
    candidates = {s for s in inflight if held[s] and s.refs == held[s]}
    outside = Counter({s: held[s] for s in candidates})
    for sock in candidates:  # dec_inflight over the candidates' own queues
        for file in _queued_files(sock):
            if file in outside:
                outside[file] -= 1
    alive = [s for s in candidates if outside[s] > 0]
    reached = set(alive)
    while alive:  # inc_inflight_move_tail: what a live candidate holds lives too
        for file in _queued_files(alive.pop()):
            if file in candidates and file not in reached:
                reached.add(file)
                alive.append(file)
    garbage = [s for s in candidates if s not in reached]
    hitlist = []
    for sock in garbage:  # unix_collect_skb: the whole receive queue goes
        inflight.discard(sock)
        hitlist += _take_queue(sock)
    for scm in hitlist:
        discard(scm)
    return len(garbage)


def _take_queue(sock: OpenFile) -> list[object]:
    """Empty ``sock``'s receive queues (bytes and messages); their ancillary data."""
    taken: list[object] = []
    if isinstance(sock, StreamSocket):
        for end in (sock, *(sock.accept_queue or ())):
            taken += end.rx_scm
            end.rx.clear()
            end.rx_scm.clear()
            end.rx_bytes = 0
    elif isinstance(sock, DgramSocket):
        taken += [scm for _, _, scm in sock.queue]
        sock.queue.clear()
    return taken
