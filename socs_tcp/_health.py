"""Connection health: is an idle connection still open, and one log line per
change of state.

A device that closes or resets a connection is known from the first call
that sees it (the transport's ``broken``). One that closed it while the
connection sat idle is found by :func:`closed_by_peer`, a zero-wait
``poll()`` the front makes before a send after a pause, never in a tight
request/reply loop.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import time

from socs_tcp.errors import ConnectionLost

logger = logging.getLogger("socs_tcp")

# POLLRDHUP (Linux) reports a peer's FIN even when unread data is ahead of it.
_RDHUP = getattr(select, "POLLRDHUP", 0)
_GONE = select.POLLHUP | select.POLLERR | _RDHUP

#: Seconds between two warnings while a device stays unreachable.
REPEAT_WARNING = 60.0


def closed_by_peer(sock: socket.socket) -> str | None:
    """Why ``sock``'s connection is over, without waiting; None while it is open.

    One ``poll()``; where ``POLLRDHUP`` does not exist, readable data is
    peeked at (that read cannot block: poll said it is there) to tell a
    reply from the end of the stream. Unread data is left in place.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN | _RDHUP)
    events = poller.poll(0)
    revents = events[0][1] if events else 0
    if revents & select.POLLERR:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        why = ConnectionLost.from_errno(err) if err else "unknown error"
        return f"the connection failed: {why}"
    if revents & _GONE:
        return "the device closed the connection"
    if revents & select.POLLIN and not _RDHUP:
        try:
            if not sock.recv(1, socket.MSG_PEEK):
                return "the device closed the connection"
        except OSError as exc:
            return f"the connection failed: {exc}"
    return None


class ConnectionLog:
    """Logs the changes of a connection's state, not every failed call.

    * a connection replaced at once (the device closed an idle connection,
      or reset it): one INFO line, ``reconnected (why)``: no poll failed;
    * the device cannot be reached: one WARNING when the outage starts, then
      at most one every ``repeat`` seconds while it lasts, with the count of
      failed attempts in between; nothing else per attempt;
    * the device is back after an outage: one WARNING, with its length.

    Parameters
    ----------
    label : str
        The device, as ``host:port``.
    repeat : float
        Seconds between two warnings while the device stays unreachable.
    """

    def __init__(self, label: str, repeat: float = REPEAT_WARNING) -> None:
        self.label = label
        self.repeat = repeat
        self.reason: str | None = None  # why the connection is being replaced
        self.error = "connection not established"  # the last failure to connect
        self.down_since: float | None = None
        self.failures = 0  # failed attempts in this outage
        self.unreported = 0  # of which not yet in a warning
        self.warned = -math.inf

    def replacing(self, reason: str) -> None:
        """The connection is about to be replaced because of ``reason``."""
        self.reason = reason

    def connected(self) -> None:
        """An attempt to connect succeeded."""
        if self.down_since is not None:
            logger.warning(
                "%s: connection restored after %.1f s (%d failed attempts)",
                self.label,
                time.monotonic() - self.down_since,
                self.failures,
            )
        elif self.reason is not None:
            logger.info("%s: reconnected (%s)", self.label, self.reason)
        else:
            logger.debug("%s: connected", self.label)
        self.reason = None
        self.down_since = None
        self.failures = self.unreported = 0

    def unreachable(self, error: str) -> None:
        """An attempt to connect failed with ``error``."""
        now = time.monotonic()
        self.error = error
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
            self.warned = now
            self.unreported = 0
            after = f" (after: {self.reason})" if self.reason else ""
            logger.warning("%s: %s%s", self.label, error, after)
        elif now - self.warned >= self.repeat:
            logger.warning(
                "%s: still unreachable after %.0f s, %d failed attempts since "
                "the last message: %s",
                self.label,
                now - self.down_since,
                self.unreported + 1,
                error,
            )
            self.warned = now
            self.unreported = 0
        else:
            self.unreported += 1
        self.reason = None

    #: Replies that did not match a query's ``expect``, since construction.
    mismatches: int = 0

    def mismatch(self) -> None:
        """A reply did not match what its query expected."""
        self.mismatches += 1
