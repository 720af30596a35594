"""Connection health: is an idle connection still open, one log line per
change of state, and the :class:`Health` snapshot an agent publishes.

A device that closes or resets a connection is known from the first call
that sees it (the transport's ``broken``). One that closed it while the
connection sat idle is found by :func:`closed_by_peer`, a zero-wait
``poll()`` the front makes before a send after a pause, never in a tight
request/reply loop.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import select
import socket
import struct
import time

from socs_tcp.errors import ConnectionLost

logger = logging.getLogger("socs_tcp")

# POLLRDHUP (Linux) reports a peer's FIN even when unread data is ahead of it.
_RDHUP = getattr(select, "POLLRDHUP", 0)
_GONE = select.POLLHUP | select.POLLERR | _RDHUP

#: Seconds between two warnings while a device stays unreachable.
REPEAT_WARNING = 60.0

# Linux's struct tcp_info: tcpi_bytes_acked and tcpi_bytes_received, both
# u64, at offset 120 (kernel 4.2 and later). The kernel counts the SYN as
# one byte acknowledged.
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCP_INFO_SIZE = 256
_BYTES = struct.Struct("=QQ")
_BYTES_AT = 120


def kernel_counts(sock: socket.socket | None) -> tuple[int, int]:
    """``(sent, received)``: payload bytes the system counted on ``sock``.

    Sent bytes are those the device acknowledged; received ones include any
    not read yet. Costs one ``getsockopt``, made only when asked (for a
    snapshot, or before a connection is closed), so the I/O methods pay
    nothing. ``(0, 0)`` where the system does not say (not Linux), or once
    the socket is closed.
    """
    if sock is None or _TCP_INFO is None:
        return (0, 0)
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
    except OSError:  # closed, or not TCP
        return (0, 0)
    if len(info) < _BYTES_AT + _BYTES.size:
        return (0, 0)
    acked, received = _BYTES.unpack_from(info, _BYTES_AT)
    return (max(0, acked - 1), received)


@dataclasses.dataclass(frozen=True)
class Health:
    """A snapshot of a connection's health, for an agent to publish.

    Taken by :attr:`TCPInterface.health <socs_tcp.TCPInterface.health>`;
    it does not change afterwards. ``state != "connected"`` or
    ``failures > 0`` is what an agent would report as degraded.

    Attributes
    ----------
    state : {"connected", "down", "never connected"}
        ``"connected"`` while a connection is open and no call has seen it
        end; ``"down"`` after it ended, was closed or could not be made
        again; ``"never connected"`` until the first connection.
    since : float
        Wall-clock time (``time.time()``) of the last change of ``state``.
    failures : int
        Consecutive failures: attempts to connect that failed and calls that
        raised a ``ConnectionError``. Back to 0 at a connection made, and
        once a command has gone out after the last failure.
    reconnects : int
        Connections made after the first one.
    timeouts : int
        Calls that raised :class:`~socs_tcp.TransportTimeout`.
    late_replies_discarded : int
        Late replies to earlier commands that were discarded.
    mismatches : int
        Replies that did not match what their query expected (``expect=``).
    bytes_sent, bytes_received : int
        Payload bytes over all connections, as the system counted them
        (sent: acknowledged by the device; received: arrived, read or
        not). 0 where the system does not count them (Linux does);
        connections closed by the driver itself (``self.comm.close()``) are
        not counted.
    last_error : str or None
        The last failure, or None if there was none.
    """

    state: str
    since: float
    failures: int
    reconnects: int
    timeouts: int
    late_replies_discarded: int
    mismatches: int
    bytes_sent: int
    bytes_received: int
    last_error: str | None


def closed_by_peer(sock: socket.socket) -> str | None:
    """Why ``sock``'s connection is over, without waiting; None while it is open.

    One ``poll()``; where ``POLLRDHUP`` does not exist, readable data is
    peeked at (that read cannot block: poll said it is there) to tell a
    reply from the end of the stream. Unread data is left in place.
    """
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN | _RDHUP)
        events = poller.poll(0)
    except (ValueError, OSError):  # closed by another thread meanwhile
        return "the socket was closed"
    revents = events[0][1] if events else 0
    if revents & select.POLLERR:
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return "the socket was closed"
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
        self.cause: BaseException | None = None  # and the exception behind it
        self.down_since: float | None = None
        self.failures = 0  # failed attempts in this outage
        self.unreported = 0  # of which not yet in a warning
        self.warned = -math.inf
        self.reconnect_logged = -math.inf  # when "reconnected" was last at INFO
        self.quiet_reconnects = 0  # and how many came since, at DEBUG
        # What Health reports.
        self.state = "never connected"
        self.since = time.time()
        self.consecutive = 0  # failed attempts and calls in a row
        self.failed_at = -math.inf  # monotonic time of the last of them
        self.reconnects = 0
        self.timeouts = 0
        self.late_replies = 0
        self.mismatches = 0
        self.last_error: str | None = None
        self.sent = self.received = 0  # of connections already closed

    def _become(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.since = time.time()

    def failed(self, error: str, timeout: bool = False) -> None:
        """A call raised ``error`` to its caller."""
        self.consecutive += 1
        self.failed_at = time.monotonic()
        self.last_error = error
        self.timeouts += timeout

    def discarded_late(self) -> None:
        """A late reply to an earlier command was discarded."""
        self.late_replies += 1

    def closing(self, sock: socket.socket | None) -> None:
        """``sock`` is about to be closed: keep its counts; the state is down."""
        sent, received = kernel_counts(sock)
        self.sent += sent
        self.received += received
        if self.state == "connected":
            self._become("down")

    def snapshot(
        self, sock: socket.socket | None, ended: bool, last_send: float
    ) -> Health:
        """The health now, for a connection ``sock`` (``ended``: known over).

        ``last_send`` is the monotonic start of the latest command: one that
        went out after the last failure ends the run of failures.
        """
        if ended and self.state == "connected":
            self._become("down")
        if last_send > self.failed_at:
            self.consecutive = 0
        sent, received = kernel_counts(sock)
        return Health(
            state=self.state,
            since=self.since,
            failures=self.consecutive,
            reconnects=self.reconnects,
            timeouts=self.timeouts,
            late_replies_discarded=self.late_replies,
            mismatches=self.mismatches,
            bytes_sent=self.sent + sent,
            bytes_received=self.received + received,
            last_error=self.last_error,
        )

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
            self._reconnected(self.reason)
        else:
            logger.debug("%s: connected", self.label)
        self.reason = None
        self.down_since = None
        self.failures = self.unreported = 0
        if self.state != "never connected":
            self.reconnects += 1
        self._become("connected")
        self.consecutive = 0

    def _reconnected(self, reason: str) -> None:
        """One INFO line per ``repeat`` seconds for connections replaced at
        once; those in between are counted in the next line (a device that
        accepts and then resets every connection is one story, not one line
        per poll)."""
        now = time.monotonic()
        if now - self.reconnect_logged < self.repeat:
            self.quiet_reconnects += 1
            logger.debug("%s: reconnected (%s)", self.label, reason)
            return
        more = self.quiet_reconnects
        since = f"; {more} more since the last message" if more else ""
        logger.info("%s: reconnected (%s)%s", self.label, reason, since)
        self.reconnect_logged = now
        self.quiet_reconnects = 0

    def unreachable(self, error: str, cause: BaseException | None = None) -> None:
        """An attempt to connect failed with ``error`` (raised as ``cause``)."""
        now = time.monotonic()
        self.error = error
        self.cause = cause
        self.failures += 1
        self.consecutive += 1
        self.failed_at = now
        self.last_error = error
        if self.state == "connected":
            self._become("down")
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

    def mismatch(self) -> None:
        """A reply did not match what its query expected."""
        self.mismatches += 1
