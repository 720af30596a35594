"""``TCPInterface``: the socs-compatible front.

It owns the connection (``comm``, a real ``socket.socket``), the reconnect
policy and the logging; every byte goes through a transport bound to
``comm`` (compiled or pure Python, see ``socs_tcp._backend``). Its methods are
ordinary Python functions on either transport: mocks, ``inspect`` and bound
methods behave the same whichever one loaded.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import ClassVar

from socs_tcp import _backend, _trace
from socs_tcp._checks import (
    check_buffer,
    check_bufsize,
    check_count,
    check_keepalive,
    check_max_size,
    check_message,
    check_nbytes,
    check_port,
    check_seconds,
    check_terminators,
    check_timeout,
)
from socs_tcp._contract import Transport
from socs_tcp._disconnected import DISCONNECTED
from socs_tcp._health import ConnectionLog, closed_by_peer
from socs_tcp._limits import DEFAULT_MAX_SIZE, MAX_READ, PREVIEW
from socs_tcp._types import ReadableBuffer, Terminator, WriteableBuffer
from socs_tcp.errors import (
    NotConnected,
    TransportError,
    TransportTimeout,
)

logger = logging.getLogger("socs_tcp")

__all__ = ["DEFAULT_MAX_SIZE", "TCPInterface"]


class TCPInterface:
    """Interface class for connecting to devices using TCP.

    A drop-in replacement for ``socs.tcp.TCPInterface``: drivers subclass it
    and call :meth:`send` and :meth:`recv`. Construction never raises for an
    unreachable device (it logs and leaves ``comm`` as ``None``), :meth:`send`
    resets the connection and retries once, and failures surface as
    :class:`ConnectionError`.

    Beyond socs, a connection the device has closed or reset is replaced
    before the next command goes out (see :meth:`send`), :meth:`query` never
    returns a reply that belongs to an earlier command, and commands can be
    paced (``send_interval``, ``query_delay``) instead of slept around.

    Parameters
    ----------
    ip_address : str
        IP address (IPv4 or IPv6) or host name of the device.
    port : int
        Associated port for TCP communication, 1 to 65535.
    timeout : float or None
        Duration in seconds that operations wait before giving up; ``None``
        (or ``inf``, or more than ``1e9``) waits forever.
    nodelay : bool, optional
        Disable Nagle's algorithm (``TCP_NODELAY``), so short commands leave
        at once. Defaults to True.
    keepalive : tuple of int, optional
        ``(idle, interval, count)``: send TCP keepalive probes after ``idle``
        seconds of silence, every ``interval`` seconds, and drop the
        connection after ``count`` unanswered ones. Detects half-open
        connections (a device power-cycled mid-session) that otherwise hang
        for hours. Defaults to None (the system's setting, usually off).
    query_delay, send_interval, reconnect_interval : float, optional
        Override the class attributes of the same names for this instance.

    Attributes
    ----------
    ip_address : str
        IP address of the device.
    port : int
        Associated port for TCP communication.
    timeout : float or None
        Duration in seconds that operations wait before giving up. Checked
        when set, like the constructor's argument.
    comm : socket.socket or None
        Socket object that forms the connection to the device.
    read_terminator : bytes or tuple of bytes
        What ends a reply, for :meth:`recv_until` and :meth:`query`.
        Class attribute; defaults to ``b"\\n"``.
    write_terminator : bytes
        What :meth:`query` appends to a command. Class attribute; defaults to
        ``b"\\n"``.
    query_delay : float
        Seconds :meth:`query` waits after sending, before it reads the reply
        (for devices that must not be read too soon). Defaults to 0.
    send_interval : float
        Least seconds between the starts of two sends on this interface; a
        send sleeps only for what is left of it. Defaults to 0.
    reconnect_interval : float
        Least seconds between two attempts to connect, for devices that
        dislike rapid reconnections. Within it, a call that would reconnect
        raises :class:`~socs_tcp.NotConnected` at once. Defaults to 0
        (socs's behaviour: reconnect whenever needed).
    idle_check : float
        A send that comes this many seconds or more after the previous one
        first checks, without waiting, that the device has not closed the
        connection meanwhile (one ``poll()``), and reconnects if it has.
        Defaults to 0.1; a tight request/reply loop never pays for it.
    """

    read_terminator: ClassVar[Terminator] = b"\n"
    write_terminator: ClassVar[bytes] = b"\n"
    query_delay: float = 0.0
    send_interval: float = 0.0
    reconnect_interval: float = 0.0
    idle_check: float = 0.1

    #: The transport class; the backend chosen by ``SOCS_TCP_BACKEND``.
    _transport_type: ClassVar[type[Transport]] = _backend.Transport

    #: Whether query() may run as one exchange in the transport: not when a
    #: subclass overrides send(), which query() then goes through.
    _exchanges: ClassVar[bool] = True
    #: True while a query() runs on the policy's path (sends wait for it).
    _querying: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._exchanges = cls.send is TCPInterface.send

    def __init__(
        self,
        ip_address: str,
        port: int,
        timeout: float | None,
        *,
        nodelay: bool = True,
        keepalive: tuple[int, int, int] | None = None,
        query_delay: float | None = None,
        send_interval: float | None = None,
        reconnect_interval: float | None = None,
    ) -> None:
        if not isinstance(ip_address, str) or not ip_address:
            raise ValueError(
                f"ip_address must be a non-empty string such as '192.168.1.2', "
                f"not {ip_address!r}"
            )
        self.ip_address = ip_address
        self.port = check_port(port)
        self.timeout = timeout
        self.nodelay = bool(nodelay)
        self.keepalive = check_keepalive(keepalive)
        cls = type(self)
        self.query_delay = check_seconds(
            cls.query_delay if query_delay is None else query_delay, "query_delay"
        )
        self.send_interval = check_seconds(
            cls.send_interval if send_interval is None else send_interval,
            "send_interval",
        )
        self.reconnect_interval = check_seconds(
            cls.reconnect_interval
            if reconnect_interval is None
            else reconnect_interval,
            "reconnect_interval",
        )
        # Held by send() and for a whole query(): no command from another
        # thread gets between a query's command and its reply, or its pacing.
        self._lock = threading.RLock()
        self._health = ConnectionLog(self._label)
        self._last_send = -math.inf  # monotonic start of the last send
        self._last_dial = -math.inf  # monotonic time of the last attempt to connect
        self._tracing = False
        self._comm: socket.socket | None = None
        self._io: Transport = DISCONNECTED
        self._dial()

    # -- settings --------------------------------------------------------

    @property
    def timeout(self) -> float | None:
        """Seconds operations wait before giving up; None waits forever."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = check_timeout(value)

    # -- connection ------------------------------------------------------

    @property
    def comm(self) -> socket.socket | None:
        """The connected ``socket.socket``, or None."""
        return self._comm

    @comm.setter
    def comm(self, sock: socket.socket | None) -> None:
        # A new socket is a new connection: a new transport, with an empty
        # buffer and no reply owed on it.
        if sock is not self._comm:
            self._comm = sock
            self._io = DISCONNECTED if sock is None else self._transport_type(sock)
            self._tracing = _trace.enabled()

    @property
    def connected(self) -> bool:
        """True while there is an open connection that no call has seen end.

        Turns False as soon as any call meets the end of the stream or a
        reset; the next :meth:`send` or :meth:`query` then reconnects first.
        """
        return self._ended() is None

    def _ended(self) -> str | None:
        """Why the connection is known to be over, without a syscall; or None."""
        sock = self._comm
        if sock is None:
            return "there was no connection"
        if sock.fileno() < 0:
            return "the socket was closed"
        if self._io.broken:
            return "the device closed or reset the connection"
        return None

    @property
    def _label(self) -> str:
        host = self.ip_address
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def _connect(self, address: tuple[str, int]) -> socket.socket | None:
        """Open a connection to ``address``; log and return None on failure."""
        try:
            sock = socket.create_connection(address, timeout=self._timeout)
        except socket.timeout:  # TimeoutError since 3.10, not before
            self._health.unreachable(
                f"connection not established within {self._timeout} seconds"
            )
            return None
        except (OSError, UnicodeError) as exc:
            # UnicodeError: a host name that cannot be encoded for lookup,
            # which is as unreachable as any other.
            self._health.unreachable(f"unable to connect: {exc}")
            return None
        try:
            self._configure(sock)
        except OSError as exc:
            sock.close()
            self._health.unreachable(f"unable to set socket options: {exc}")
            return None
        self._health.connected()
        return sock

    def _configure(self, sock: socket.socket) -> None:
        if self.nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.keepalive is not None:
            idle, interval, count = self.keepalive
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)

    def _dial(self) -> None:
        """Connect (``comm`` is the result), unless ``reconnect_interval`` says wait."""
        now = time.monotonic()
        if now - self._last_dial < self.reconnect_interval:
            return
        self._last_dial = now
        self.comm = self._connect((self.ip_address, self.port))

    def _reset(self) -> None:
        """Close the connection, dropping buffered input, and reconnect."""
        self.close()
        self._dial()

    def _replace(self, reason: str) -> None:
        """Reset the connection because of ``reason``; NotConnected if no new one."""
        self._health.replacing(reason)
        self._reset()
        if self._comm is None:
            raise self._failure(self._refusal(), "connect", False)

    def _refusal(self) -> NotConnected:
        """Why there is no connection now, as the error to raise."""
        wait = self._last_dial + self.reconnect_interval - time.monotonic()
        if wait > 0:
            return NotConnected(
                f"not connected; the next attempt is allowed in {wait:.2g} s "
                f"(reconnect_interval={self.reconnect_interval:g} s)"
            )
        return NotConnected(self._health.error)

    def reconnect(self) -> None:
        """Close the connection, dropping buffered input, and open a new one.

        Raises
        ------
        NotConnected
            The device cannot be reached, or ``reconnect_interval`` has not
            passed since the last attempt.
        """
        with self._lock:
            self._replace("reconnect() was called")

    def close(self) -> None:
        """Close the connection; buffered input is dropped (and logged).

        A thread blocked in a receive or a send on this connection wakes at
        once and raises :class:`~socs_tcp.NotConnected`, whichever method it
        is in. A later :meth:`send` or :meth:`query` reconnects.
        """
        sock, io = self._comm, self._io
        self.comm = None
        io.close()  # before the wake-up below, so a waiting call sees why
        if io.pending:
            logger.info(
                "%s: dropped %d buffered bytes on close", self._label, io.pending
            )
        if sock is not None:
            # close() alone does not wake a poll() in another thread.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # not connected any more
            sock.close()

    def __enter__(self) -> TCPInterface:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        sock = getattr(self, "_comm", None)
        if sock is not None:
            sock.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return (
            f"<{type(self).__name__} {self._label} "
            f"backend={self._transport_type.backend} {state}>"
        )

    # -- errors ----------------------------------------------------------

    def _failure(self, exc: OSError, what: str, reset: bool) -> TransportError:
        """The error to raise for ``exc``, naming the device; logged at DEBUG.

        Errors raised to the caller are the caller's to log: the library's
        warnings are for changes of state (see ``socs_tcp._health``). Resets
        the connection first if asked. Every failure of every method goes
        through here.
        """
        label = self._label
        if isinstance(exc, TransportError):
            error = exc
            if not str(error).startswith(label):
                error.args = (f"{label}: {error}",)
        else:
            error = TransportError(f"{label}: {what} failed: {exc}", errno=exc.errno)
            error.__cause__ = exc
        logger.debug("%s", error)
        if reset:
            self._health.replacing(str(error))
            self._reset()
        return error

    # -- socs API --------------------------------------------------------

    def send(self, msg: ReadableBuffer) -> None:
        """Send message to socket.

        All bytes are sent. If that fails, the connection is reset and the
        message sent once more; a second failure raises. A connection known
        to be over is replaced *before* sending: there is none (it failed
        earlier, never came up, or was closed), a call has seen the device
        close or reset it, or, after ``idle_check`` seconds without a send, a
        zero-wait check finds it closed. A send reconnects at most once.
        Concurrent sends never interleave their bytes, and wait for a
        :meth:`query` in progress.

        Parameters
        ----------
        msg : bytes
            Message to send (any C-contiguous bytes-like object).

        Raises
        ------
        TypeError
            ``msg`` is a ``str`` (encode it first) or not a C-contiguous
            bytes-like object. Nothing is sent, the connection is left alone.
        NotConnected
            There was no connection and none could be made (or
            ``reconnect_interval`` forbade trying yet).
        ConnectionError
            The message could not be sent, even after a reset.
        """
        if type(msg) is not bytes:
            check_message(msg)
        if not (self.send_interval or self._querying):
            # The fast path: the transport sends unless something needs the
            # policy below (a connection known over, an idle one found
            # closed, the trace on); then it sends nothing and says so.
            try:
                if not self._io.sendall(msg, self._timeout, self.idle_check):
                    return
            except OSError as exc:
                self._send_failed(msg, exc)
                return
        self._send_checked(msg)

    def _send_checked(self, msg: ReadableBuffer) -> None:
        """send(), paced, after the checks: replace a connection known over."""
        with self._lock:
            now = time.monotonic()
            last = max(self._last_send, self._io.last_send)
            if self.send_interval:
                wait = last + self.send_interval - now
                if wait > 0:
                    time.sleep(wait)
                    now = time.monotonic()
            reason = self._ended()
            sock = self._comm
            idle = now - last >= self.idle_check
            if reason is None and idle and sock is not None:
                reason = closed_by_peer(sock)
            if reason is not None:
                self._replace(reason)
                now = time.monotonic()  # the send starts after the reconnection
            self._last_send = now
            # The trace follows the logger's level as of the latest send.
            self._tracing = _trace.enabled()
            if self._tracing:
                _trace.record(self._label, ">", memoryview(msg).cast("B"))
            try:
                self._io.sendall(msg, self._timeout)
                return
            except OSError as exc:
                if reason is not None:  # the connection is new already
                    raise self._failure(exc, "send", False) from None
                first = exc
        self._send_failed(msg, first)

    def _send_failed(self, msg: ReadableBuffer, exc: OSError) -> None:
        """A send failed on a connection thought open: reset, and send once more."""
        with self._lock:
            first = self._failure(exc, "send", False)
            self._replace(str(first))
            try:
                self._io.sendall(msg, self._timeout)
            except OSError as exc:
                raise self._failure(exc, "send after reset", False) from None

    def recv(self, bufsize: int = 4096, reset_on_error: bool = False) -> bytes:
        """Receive response from the device.

        Waits up to ``timeout`` for data and returns what is there, at most
        ``bufsize`` bytes (never reading more than that from the socket).
        Bytes buffered by :meth:`recv_until` or :meth:`recv_exactly` come
        first. Returns ``b""`` once the device has closed the connection (and
        the next :meth:`send` reconnects).

        Parameters
        ----------
        bufsize : int
            Most bytes to return. Defaults to 4096; 0 returns ``b""`` at once.
            Values over 4 MiB are taken as 4 MiB, so a huge value never
            allocates a huge buffer.
        reset_on_error : bool
            Reset the connection (dropping buffered input) when the receive
            fails. This can clear a confused device, but some devices don't
            handle rapid reconnections well. Defaults to False.

        Returns
        -------
        bytes
            The response from the device.

        Raises
        ------
        TransportTimeout
            No data within ``timeout`` (a ``ConnectionError``).
        ConnectionError
            Not connected, or the receive failed.
        TypeError, ValueError
            ``bufsize`` is not an integer, or is negative.
        """
        if type(bufsize) is not int or not 0 < bufsize <= MAX_READ:
            bufsize = check_bufsize(bufsize)
            if not bufsize:
                return b""
        try:
            data = self._io.recv(bufsize, self._timeout)
        except OSError as exc:
            raise self._failure(exc, "recv", reset_on_error) from None
        if self._tracing:
            _trace.record(self._label, "<", data)
        return data

    # -- beyond socs -----------------------------------------------------

    @property
    def pending(self) -> int:
        """Number of received bytes buffered and not yet returned."""
        return self._io.pending

    def _deadline_arg(self, timeout: float | None) -> float | None:
        """A call's ``timeout``: the interface's when None, else checked."""
        return self._timeout if timeout is None else check_timeout(timeout)

    def recv_until(
        self,
        terminator: Terminator | None = None,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        reset_on_error: bool = False,
    ) -> bytes:
        """Receive one frame, up to and including its terminator.

        Bytes after the terminator stay buffered for the next receive. On a
        timeout nothing is lost: the bytes received so far stay buffered (a
        retry continues the frame) and the exception carries a copy.

        The arguments after ``terminator`` are best given by keyword. They
        are not keyword-only because CPython calls a method with
        keyword-only defaults markedly slower, and this is the call a
        line-reading loop makes for every line.

        Parameters
        ----------
        terminator : bytes or tuple of bytes, optional
            What ends the frame. With several, the match that completes first
            in the stream wins (on a tie, the longer one), whatever the
            chunking. Defaults to ``read_terminator``.
        timeout : float, optional
            Seconds for the whole call, however many chunks arrive, and
            however fast: the deadline is checked after every read from the
            kernel. Defaults to the interface's ``timeout``.
        max_size : int, optional
            Longest frame accepted, terminator included. Defaults to 1 MiB
            (also when None); a value beyond what memory can address means
            no limit.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        bytes
            The frame, terminator included.

        Raises
        ------
        TransportTimeout
            No terminator before the deadline; ``.partial`` holds the frame's
            start.
        IncompleteRead
            The device closed the connection first; ``.partial`` likewise.
        FrameTooLong
            No terminator within ``max_size`` bytes; they stay buffered.
        ConnectionError
            Not connected, or the receive failed (``.partial`` likewise).
        TypeError, ValueError
            A bad ``terminator``, ``timeout`` or ``max_size``.
        """
        # The common call does the least here: the transport checks the
        # terminator (once per object) and returns a buffered frame from C.
        if terminator is None:
            terminator = self.read_terminator
        if timeout is None:
            timeout = self._timeout
        else:
            timeout = check_timeout(timeout)
        if max_size is not DEFAULT_MAX_SIZE:
            max_size = check_max_size(max_size)
        try:
            frame = self._io.recv_until(terminator, timeout, max_size)
        except OSError as exc:
            raise self._failure(exc, "recv_until", reset_on_error) from None
        if self._tracing:
            _trace.record(self._label, "<", frame)
        return frame

    def frames(
        self,
        terminator: Terminator | None = None,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> Iterator[bytes]:
        """Iterate over the frames the device sends, until it closes the connection.

        ``for line in iface.frames(): ...`` is the fast way to read a stream
        of records: each step returns what :meth:`recv_until` would.

        Parameters
        ----------
        terminator, timeout, max_size
            As for :meth:`recv_until`; ``timeout`` bounds each frame.

        Yields
        ------
        bytes
            Each frame, terminator included. The iteration ends when the
            device closes the connection between two frames.

        Raises
        ------
        TransportTimeout, IncompleteRead, FrameTooLong, ConnectionError
            As :meth:`recv_until` raises them (an unfinished frame at the
            end of the stream is an :class:`IncompleteRead`).
        """
        if terminator is None:
            terminator = self.read_terminator
        timeout = self._deadline_arg(timeout)
        if max_size is not DEFAULT_MAX_SIZE:
            max_size = check_max_size(max_size)
        try:
            frames = self._io.frames(terminator, timeout, max_size, self._frame_error)
        except OSError as exc:
            raise self._failure(exc, "frames", False) from None
        if self._tracing:
            return self._traced(frames)
        return frames

    def _frame_error(self, exc: OSError) -> TransportError:
        return self._failure(exc, "frames", False)

    def _traced(self, frames: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames:
            _trace.record(self._label, "<", frame)
            yield frame

    def recv_exactly(
        self, n: int, timeout: float | None = None, reset_on_error: bool = False
    ) -> bytes:
        """Receive exactly ``n`` bytes, for fixed-length binary replies.

        Parameters
        ----------
        n : int
            How many bytes; 0 returns ``b""`` at once.
        timeout : float, optional
            Seconds for the whole call (checked after every kernel read, as
            for :meth:`recv_until`). Defaults to the interface's ``timeout``.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        bytes
            The ``n`` bytes.

        Raises
        ------
        TransportTimeout, IncompleteRead
            As for :meth:`recv_until`: the bytes stay buffered, and
            ``.partial`` is a copy.
        ConnectionError
            Not connected, or the receive failed.
        TypeError, ValueError
            ``n`` is not an integer, or is negative or over ``sys.maxsize``.
        """
        n = check_count(n)
        if n == 0:
            return b""
        timeout = self._deadline_arg(timeout)
        try:
            data = self._io.recv_exactly(n, timeout)
        except OSError as exc:
            raise self._failure(exc, "recv_exactly", reset_on_error) from None
        if self._tracing:
            _trace.record(self._label, "<", data)
        return data

    def recv_into(
        self,
        buffer: WriteableBuffer,
        nbytes: int = 0,
        timeout: float | None = None,
        reset_on_error: bool = False,
    ) -> int:
        """Receive into a caller's buffer without copying; return the count.

        For high-rate streams: reuse one ``bytearray``, ``memoryview`` or
        NumPy array. Returns what has arrived, which may be less than asked;
        :meth:`recv_exactly_into` fills the buffer.

        Parameters
        ----------
        buffer : writable buffer
            C-contiguous and writable.
        nbytes : int, optional
            Most bytes to receive; 0 (the default) means ``len(buffer)`` in
            bytes.
        timeout : float, optional
            Seconds to wait. Defaults to the interface's ``timeout``.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        int
            Bytes received; 0 once the device has closed the connection.

        Raises
        ------
        TransportTimeout
            Nothing arrived within the timeout.
        ConnectionError
            Not connected, or the receive failed.
        TypeError, ValueError
            ``buffer`` is not writable and C-contiguous, or ``nbytes`` does
            not fit it.
        """
        timeout = self._deadline_arg(timeout)
        with check_buffer(buffer) as view:
            nbytes = check_nbytes(nbytes, len(view))
            if nbytes == 0:
                return 0
            try:
                count = self._io.recv_into(view, nbytes, timeout)
            except OSError as exc:
                raise self._failure(exc, "recv_into", reset_on_error) from None
            if self._tracing:
                _trace.record(self._label, "<", view[:count])
            return count

    def recv_exactly_into(
        self,
        buffer: WriteableBuffer,
        nbytes: int = 0,
        timeout: float | None = None,
        reset_on_error: bool = False,
    ) -> int:
        """Fill a caller's buffer: receive exactly ``nbytes`` bytes into it.

        For fixed-size records of a stream, without a copy: a DAQ loop keeps
        its position, because a failure says how far the buffer was filled.

        Parameters
        ----------
        buffer : writable buffer
            C-contiguous and writable.
        nbytes : int, optional
            How many bytes; 0 (the default) means ``len(buffer)`` in bytes.
        timeout : float, optional
            Seconds for the whole call (checked after every kernel read).
            Defaults to the interface's ``timeout``.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        int
            ``nbytes``.

        Raises
        ------
        TransportTimeout, IncompleteRead, ConnectionError
            As for :meth:`recv_exactly`. The bytes received are in
            ``buffer``; the exception's ``.partial`` is a copy of them, so
            ``len(exc.partial)`` says where to resume.
        TypeError, ValueError
            As for :meth:`recv_into`.
        """
        timeout = self._deadline_arg(timeout)
        with check_buffer(buffer) as view:
            nbytes = check_nbytes(nbytes, len(view))
            try:
                self._io.recv_exactly_into(view, nbytes, timeout)
            except OSError as exc:
                raise self._failure(exc, "recv_exactly_into", reset_on_error) from None
            if self._tracing:
                _trace.record(self._label, "<", view[:nbytes])
            return nbytes

    def clear(self, quiet: float = 0.0, *, timeout: float | None = None) -> int:
        """Discard stale input: the buffer and what the socket holds.

        Parameters
        ----------
        quiet : float, optional
            With ``quiet > 0``, keep discarding until the device has been
            silent for ``quiet`` seconds (the drain-before-command idiom).
            Defaults to 0: only what has already arrived.
        timeout : float, optional
            Most seconds to spend, for a device that never falls silent.
            Defaults to the interface's ``timeout``; when that is None too,
            it keeps discarding as long as the device talks.

        Returns
        -------
        int
            How many bytes were discarded. The log (INFO) quotes the first
            80 of them; memory use stays bounded however many there are.

        Raises
        ------
        ConnectionError
            The read failed, other than by finding the connection closed or
            reset: that is not an error here (nothing stale is left, and the
            next :meth:`send` reconnects).
        """
        quiet = check_seconds(quiet, "quiet")
        timeout = self._deadline_arg(timeout)
        io = self._io
        if self._comm is None:
            return 0
        count, head = 0, b""
        try:
            count, head = io.clear(PREVIEW, quiet, timeout)
        except OSError as exc:
            error = self._failure(exc, "clear", False)
            # A connection found dead holds nothing stale: the next send
            # replaces it. Anything else is the caller's to handle.
            if not io.broken:
                raise error from None
        if count:
            logger.info("%s: discarded %d stale bytes: %r", self._label, count, head)
        return count

    def query(
        self,
        msg: ReadableBuffer,
        *,
        terminator: Terminator | None = None,
        timeout: float | None = None,
        clear: bool = True,
    ) -> bytes:
        """Send a command and return its reply, without the terminator.

        The reply is this command's own, or an exception: never a reply that
        belongs to an earlier command. When a query fails after sending (a
        timeout, say), its reply may still come; the next query first
        discards it if it has arrived whole, and otherwise reconnects, so
        that a reply still on its way is left behind with the old connection
        instead of being taken for the new command's.

        Holds a per-instance lock for the whole exchange, so queries and
        sends from other threads never get between a command and its reply.
        Every argument is checked before anything is sent. Waits
        ``query_delay`` between sending and reading.

        Parameters
        ----------
        msg : bytes
            The command; ``write_terminator`` is appended.
        terminator : bytes or tuple of bytes, optional
            What ends the reply. Defaults to ``read_terminator``.
        timeout : float, optional
            Seconds to wait for the reply (after ``query_delay``). Defaults to
            the interface's ``timeout``.
        clear : bool, optional
            First discard stale input (buffered, and already in the socket),
            such as unsolicited messages. This costs one non-blocking read.
            Defaults to True.

        Returns
        -------
        bytes
            The reply, its terminator removed.

        Raises
        ------
        TypeError, ValueError
            A bad argument: nothing was sent.
        ConnectionError
            As :meth:`send` and :meth:`recv_until` raise.
        """
        if type(msg) is not bytes:
            check_message(msg)
        if terminator is None:
            terminator = self.read_terminator
        if timeout is not None:
            timeout = check_timeout(timeout)
        if clear is not True and clear is not False:
            raise TypeError(f"clear must be True or False, not {clear!r}")
        command = b"".join((msg, self.write_terminator))
        if self._exchanges and not (self.query_delay or self.send_interval):
            # The fast path: one exchange in the transport (drop stale input,
            # send, frame the reply). It sends nothing, and says why, when
            # the policy below is needed first.
            with self._lock:  # a query on the policy's path finishes first
                io = self._io
                try:
                    reply = io.exchange(
                        command,
                        terminator,
                        self._timeout if timeout is None else timeout,
                        DEFAULT_MAX_SIZE,
                        clear,
                        self.idle_check,
                    )
                except OSError as exc:
                    if io.owed:  # it was sent: the reply is the one that failed
                        raise self._failure(exc, "query", False) from None
                    return self._query_checked(command, terminator, timeout, clear, exc)
                if type(reply) is bytes:
                    return reply
        return self._query_checked(command, terminator, timeout, clear, None)

    def _query_checked(
        self,
        command: bytes,
        terminator: Terminator,
        timeout: float | None,
        clear: bool,
        failed: OSError | None,
    ) -> bytes:
        """query() with the policy: settle an owed reply, pace, reconnect.

        ``failed``: the fast path's send failed (nothing owed); it is reset
        and sent once more, as send() does.
        """
        terms = check_terminators(terminator)
        with self._lock:
            # Sends from other threads wait for this query (on the lock).
            self._querying = True
            try:
                return self._query_locked(
                    command, terminator, timeout, clear, failed, terms
                )
            finally:
                self._querying = False

    def _query_locked(
        self,
        command: bytes,
        terminator: Terminator,
        timeout: float | None,
        clear: bool,
        failed: OSError | None,
        terms: tuple[bytes, ...],
    ) -> bytes:
        """_query_checked() with the lock held."""
        if failed is None and self._io.owed:
            self._settle(terminator)
        elif failed is None and clear:
            TCPInterface.clear(self)
        try:
            if failed is None:
                self.send(command)
            else:
                self._send_failed(command, failed)
            if self.query_delay:
                time.sleep(self.query_delay)
            reply = TCPInterface.recv_until(self, terminator, timeout)
        except BaseException:
            # Whatever went wrong, this command's reply may still come.
            self._io.owed = True
            raise
        # The frame ends in one of terms; they are sorted longest first.
        return reply[: -len(next(t for t in terms if reply.endswith(t)))]

    def _settle(self, terminator: Terminator) -> None:
        """Discard the reply a failed query left owed, or reconnect.

        The owed reply is settled when whole frames have arrived and nothing
        after them: then they are discarded. Anything else (nothing yet, half
        a frame, a closed connection) cannot tell where the owed reply would
        end, and the stream is resynchronised by reconnecting.
        """
        io = self._io
        frames = discarded = 0
        try:
            while True:
                try:
                    discarded += len(io.recv_until(terminator, 0.0, DEFAULT_MAX_SIZE))
                except TransportTimeout:
                    break
                frames += 1
        except OSError:
            frames = 0  # closed, reset or unframed: reconnect
        if frames and not io.pending:
            logger.info(
                "%s: discarded the late reply to an earlier query (%d bytes)",
                self._label,
                discarded,
            )
            io.owed = False
            return
        self._replace("the reply to an earlier query did not come in time")
