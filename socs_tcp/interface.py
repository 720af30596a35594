"""``TCPInterface``: the socs-compatible front.

It owns the connection (``comm``, a real ``socket.socket``), the reconnect
policy and the logging; every byte goes through a transport bound to
``comm`` (compiled or pure Python, see ``socs_tcp._backend``).
"""

import logging
import socket
import threading

from socs_tcp import _backend
from socs_tcp._checks import (
    check_keepalive,
    check_message,
    check_port,
    check_terminators,
    check_timeout,
)
from socs_tcp.errors import NotConnected, TransportError, TransportTimeout

logger = logging.getLogger("socs_tcp")

#: Longest frame ``recv_until`` accepts by default, terminator included.
DEFAULT_MAX_SIZE = 1 << 20

_CLEAR_CHUNK = 65536


class TCPInterface:
    """Interface class for connecting to devices using TCP.

    A drop-in replacement for ``socs.tcp.TCPInterface``: drivers subclass it
    and call :meth:`send` and :meth:`recv`. Construction never raises for an
    unreachable device (it logs and leaves ``comm`` as ``None``), :meth:`send`
    resets the connection and retries once, and failures surface as
    :class:`ConnectionError`.

    Parameters
    ----------
    ip_address : str
        IP address (IPv4 or IPv6) or host name of the device.
    port : int
        Associated port for TCP communication, 1 to 65535.
    timeout : float or None
        Duration in seconds that operations wait before giving up; ``None``
        waits forever.
    nodelay : bool, optional
        Disable Nagle's algorithm (``TCP_NODELAY``), so short commands leave
        at once. Defaults to True.
    keepalive : tuple of int, optional
        ``(idle, interval, count)``: send TCP keepalive probes after ``idle``
        seconds of silence, every ``interval`` seconds, and drop the
        connection after ``count`` unanswered ones. Detects half-open
        connections (a device power-cycled mid-session) that otherwise hang
        for hours. Defaults to None (the system's setting, usually off).

    Attributes
    ----------
    ip_address : str
        IP address of the device.
    port : int
        Associated port for TCP communication.
    timeout : float or None
        Duration in seconds that operations wait before giving up.
    comm : socket.socket or None
        Socket object that forms the connection to the device.
    read_terminator : bytes or tuple of bytes
        What ends a reply, for :meth:`recv_until` and :meth:`query`.
        Class attribute; defaults to ``b"\\n"``.
    write_terminator : bytes
        What :meth:`query` appends to a command. Class attribute; defaults to
        ``b"\\n"``.
    """

    read_terminator = b"\n"
    write_terminator = b"\n"

    #: The transport class; the backend chosen by ``SOCS_TCP_BACKEND``.
    _transport_type = _backend.Transport

    def __init__(self, ip_address, port, timeout, *, nodelay=True, keepalive=None):
        if not isinstance(ip_address, str) or not ip_address:
            raise ValueError(
                f"ip_address must be a non-empty string such as '192.168.1.2', "
                f"not {ip_address!r}"
            )
        self.ip_address = ip_address
        self.port = check_port(port)
        self.timeout = check_timeout(timeout)
        self.nodelay = bool(nodelay)
        self.keepalive = check_keepalive(keepalive)
        self._query_lock = threading.Lock()
        self._comm = self._io = None
        self.comm = self._connect((self.ip_address, self.port))

    # -- connection ------------------------------------------------------

    @property
    def comm(self):
        """The connected ``socket.socket``, or None."""
        return self._comm

    @comm.setter
    def comm(self, sock):
        # A new socket is a new connection: it gets a new, empty buffer.
        if sock is not self._comm:
            self._comm = sock
            self._io = None if sock is None else self._transport_type(sock)

    @property
    def connected(self):
        """True while there is an open socket to the device."""
        return self._comm is not None and self._comm.fileno() >= 0

    @property
    def _label(self):
        host = self.ip_address
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def _connect(self, address):
        """Open a connection to ``address``; log and return None on failure."""
        try:
            sock = socket.create_connection(address, timeout=self.timeout)
        except TimeoutError:
            logger.error(
                "%s: connection not established within %s seconds",
                self._label,
                self.timeout,
            )
            return None
        except (OSError, UnicodeError) as exc:
            # UnicodeError: a host name that cannot be encoded for lookup,
            # which is as unreachable as any other.
            logger.error("%s: unable to connect: %s", self._label, exc)
            return None
        try:
            self._configure(sock)
        except OSError as exc:
            sock.close()
            logger.error("%s: unable to set socket options: %s", self._label, exc)
            return None
        logger.debug("%s: connected", self._label)
        return sock

    def _configure(self, sock):
        if self.nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.keepalive is not None:
            idle, interval, count = self.keepalive
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)

    def _reset(self):
        """Close the connection, dropping buffered input, and reconnect."""
        logger.warning("%s: resetting the connection to the device", self._label)
        self.close()
        self.comm = self._connect((self.ip_address, self.port))

    def close(self):
        """Close the connection; buffered input is dropped (and logged).

        A thread blocked in a receive on this connection wakes at once and
        sees the end of the stream.
        """
        sock, io = self._comm, self._io
        self.comm = None
        if io is not None and io.pending:
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

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        sock = getattr(self, "_comm", None)
        if sock is not None:
            sock.close()

    def __repr__(self):
        state = "connected" if self.connected else "not connected"
        return (
            f"<{type(self).__name__} {self._label} "
            f"backend={self._transport_type.backend} {state}>"
        )

    # -- errors ----------------------------------------------------------

    def _fail(self, exc, what, reset):
        """Log ``exc``, reset if asked, and raise it as a ConnectionError."""
        logger.warning("%s: %s failed: %s", self._label, what, exc)
        if reset:
            self._reset()
        if isinstance(exc, TransportError):
            raise exc
        raise TransportError(f"{self._label}: {what} failed: {exc}") from exc

    def _transport(self, what, reset=False):
        """The connected transport, or raise NotConnected (resetting if asked)."""
        io = self._io
        if io is None:
            exc = NotConnected(f"{self._label}: connection not established")
            self._fail(exc, what, reset)
        return io

    # -- socs API --------------------------------------------------------

    def send(self, msg):
        """Send message to socket.

        All bytes are sent. If that fails, the connection is reset and the
        message sent once more; a second failure raises. If there is no
        connection (it failed earlier, or never came up) it connects first.

        Parameters
        ----------
        msg : bytes
            Message to send (any bytes-like object).

        Raises
        ------
        TypeError
            ``msg`` is a ``str``: encode it first (nothing is sent and the
            connection is left alone).
        ConnectionError
            The message could not be sent, even after a reset.
        """
        check_message(msg)
        if self._io is None:
            memoryview(msg)  # not bytes-like: TypeError now, not after connecting
            logger.warning("%s: connection not established", self._label)
            self._reset()
            if self._io is None:
                raise NotConnected(f"{self._label}: unable to establish connection")
        try:
            self._io.sendall(msg, self.timeout)
            return
        except OSError as exc:
            logger.warning("%s: send failed: %s", self._label, exc)
        self._reset()
        if self._io is None:
            raise NotConnected(f"{self._label}: unable to reset connection")
        try:
            self._io.sendall(msg, self.timeout)
        except OSError as exc:
            self._fail(exc, "send after reset", False)

    def recv(self, bufsize=4096, reset_on_error=False):
        """Receive response from the device.

        Waits up to ``timeout`` for data and returns what is there, at most
        ``bufsize`` bytes (never reading more than that from the socket).
        Bytes buffered by :meth:`recv_until` or :meth:`recv_exactly` come
        first. Returns ``b""`` once the device has closed the connection.

        Parameters
        ----------
        bufsize : int
            Most bytes to return. Defaults to 4096; 0 returns ``b""`` at once.
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
        ValueError
            ``bufsize`` is negative.
        """
        if bufsize <= 0:
            if bufsize == 0:
                return b""
            raise ValueError(f"bufsize must be >= 0, not {bufsize!r}")
        io = self._io or self._transport("recv", reset_on_error)
        try:
            return io.recv(bufsize, self.timeout)
        except OSError as exc:
            self._fail(exc, "recv", reset_on_error)

    # -- beyond socs -----------------------------------------------------

    @property
    def pending(self):
        """Number of received bytes buffered and not yet returned."""
        return 0 if self._io is None else self._io.pending

    def _terminators(self, terminator):
        """``terminator``, or ``read_terminator`` if None, checked as a tuple."""
        return check_terminators(
            self.read_terminator if terminator is None else terminator
        )

    def recv_until(
        self,
        terminator=None,
        *,
        timeout=None,
        max_size=DEFAULT_MAX_SIZE,
        reset_on_error=False,
    ):
        """Receive one frame, up to and including its terminator.

        Bytes after the terminator stay buffered for the next receive. On a
        timeout nothing is lost: the bytes received so far stay buffered (a
        retry continues the frame) and the exception carries a copy.

        Parameters
        ----------
        terminator : bytes or tuple of bytes, optional
            What ends the frame. With several, the match that completes first
            in the stream wins (on a tie, the longer one), whatever the
            chunking. Defaults to ``read_terminator``.
        timeout : float, optional
            Seconds for the whole call, however many chunks arrive.
            Defaults to the interface's ``timeout``.
        max_size : int, optional
            Longest frame accepted, terminator included. Defaults to 1 MiB
            (also when None).
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
            Not connected, or the receive failed.
        """
        terms = self._terminators(terminator)
        if max_size is None:
            max_size = DEFAULT_MAX_SIZE
        elif max_size < 1:
            raise ValueError(f"max_size must be >= 1, not {max_size!r}")
        io = self._io or self._transport("recv_until", reset_on_error)
        if timeout is None:
            timeout = self.timeout
        else:
            timeout = check_timeout(timeout)
        try:
            return io.recv_until(terms, timeout, max_size)
        except OSError as exc:
            self._fail(exc, "recv_until", reset_on_error)

    def recv_exactly(self, n, *, timeout=None, reset_on_error=False):
        """Receive exactly ``n`` bytes, for fixed-length binary replies.

        Parameters
        ----------
        n : int
            How many bytes; 0 returns ``b""`` at once.
        timeout : float, optional
            Seconds for the whole call. Defaults to the interface's
            ``timeout``.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Raises
        ------
        TransportTimeout, IncompleteRead
            As for :meth:`recv_until`: the bytes stay buffered, and
            ``.partial`` is a copy.
        ValueError
            ``n`` is negative.
        """
        if n <= 0:
            if n == 0:
                return b""
            raise ValueError(f"n must be >= 0, not {n!r}")
        io = self._io or self._transport("recv_exactly", reset_on_error)
        timeout = self.timeout if timeout is None else check_timeout(timeout)
        try:
            return io.recv_exactly(n, timeout)
        except OSError as exc:
            self._fail(exc, "recv_exactly", reset_on_error)

    def recv_into(self, buffer, nbytes=0, *, timeout=None):
        """Receive into a caller's buffer without copying; return the count.

        For high-rate streams: reuse one ``bytearray``, ``memoryview`` or
        NumPy array.

        Parameters
        ----------
        buffer : writable buffer
            C-contiguous and writable.
        nbytes : int, optional
            Most bytes to receive; 0 (the default) means ``len(buffer)`` in
            bytes.
        timeout : float, optional
            Seconds to wait. Defaults to the interface's ``timeout``.

        Returns
        -------
        int
            Bytes received; 0 once the device has closed the connection.
        """
        try:
            view = memoryview(buffer).cast("B")
        except TypeError as exc:
            raise TypeError(
                "recv_into needs a writable, C-contiguous buffer such as a "
                f"bytearray or NumPy array ({exc})"
            ) from None
        if view.readonly:
            raise TypeError(
                "recv_into needs a writable buffer; pass a bytearray, not "
                f"{type(buffer).__name__}"
            )
        size = len(view)
        if nbytes == 0:
            nbytes = size
        elif not 0 < nbytes <= size:
            raise ValueError(
                f"nbytes must be from 0 to the buffer's size {size}, not {nbytes!r}"
            )
        if nbytes == 0:
            return 0
        io = self._io or self._transport("recv_into")
        timeout = self.timeout if timeout is None else check_timeout(timeout)
        try:
            return io.recv_into(view, nbytes, timeout)
        except OSError as exc:
            self._fail(exc, "recv_into", False)

    def clear(self, quiet=0.0):
        """Discard stale input: the buffer and what the socket holds.

        Parameters
        ----------
        quiet : float, optional
            With ``quiet > 0``, keep discarding until the device has been
            silent for ``quiet`` seconds (the drain-before-command idiom).
            Defaults to 0: only what has already arrived.

        Returns
        -------
        bytes
            What was discarded, for logging.
        """
        quiet = check_timeout(quiet, "quiet")
        io = self._io
        if io is None:
            return b""
        try:
            discarded = io.drain()
            while quiet:
                try:
                    chunk = io.recv(_CLEAR_CHUNK, quiet)
                except TransportTimeout:
                    break
                if not chunk:
                    break
                discarded += chunk
        except OSError as exc:
            self._fail(exc, "clear", False)
        if discarded:
            logger.info(
                "%s: discarded %d stale bytes: %r",
                self._label,
                len(discarded),
                discarded[:80],
            )
        return discarded

    def query(self, msg, *, terminator=None, timeout=None, clear=True):
        """Send a command and return its reply, without the terminator.

        Holds a per-instance lock, so queries from several threads never
        interleave one's request with another's reply.

        Parameters
        ----------
        msg : bytes
            The command; ``write_terminator`` is appended.
        terminator : bytes or tuple of bytes, optional
            What ends the reply. Defaults to ``read_terminator``.
        timeout : float, optional
            Seconds to wait for the reply. Defaults to the interface's
            ``timeout``.
        clear : bool, optional
            First discard stale input (buffered, and already in the socket),
            such as the late reply to a query that timed out. This costs one
            non-blocking read. Defaults to True.

        Returns
        -------
        bytes
            The reply, its terminator removed.

        Raises
        ------
        TypeError
            ``msg`` is a ``str``: encode it first.
        ConnectionError
            As :meth:`send` and :meth:`recv_until` raise.
        """
        check_message(msg)
        terms = self._terminators(terminator)
        with self._query_lock:
            if clear:
                self.clear()
            self.send(b"".join((msg, self.write_terminator)))
            reply = self.recv_until(terms, timeout=timeout)
        # The frame ends in one of terms; they are sorted longest first.
        return reply[: -len(next(t for t in terms if reply.endswith(t)))]


if _backend.accelerate is not None:
    # Bytes already received skip the Python frame on compiled transports;
    # everything else still runs the methods above (see _transport_c).
    _backend.accelerate(TCPInterface)
