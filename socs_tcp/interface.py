"""``TCPInterface``: the socs-compatible front.

It owns the connection (``comm``, a real ``socket.socket``), the reconnect
policy and the logging; every byte goes through a transport bound to
``comm`` (compiled or pure Python, see ``socs_tcp._backend``). Its methods are
ordinary Python functions on either transport: mocks, ``inspect`` and bound
methods behave the same whichever one loaded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, TypeVar, overload

from socs_tcp import _backend, _trace
from socs_tcp._checks import (
    check_backoff,
    check_buffer,
    check_bufsize,
    check_count,
    check_keepalive,
    check_max_size,
    check_message,
    check_nbytes,
    check_port,
    check_resync,
    check_seconds,
    check_terminators,
    check_timeout,
)
from socs_tcp._contract import Transport
from socs_tcp._disconnected import DISCONNECTED
from socs_tcp._health import ConnectionLog, Health, closed_by_peer
from socs_tcp._limits import (
    DEFAULT_MAX_BLOCK,
    DEFAULT_MAX_SIZE,
    PREVIEW,
)
from socs_tcp._replies import (
    Expect,
    byte_view,
    check_expect,
    check_separator,
    empty_array,
    matches,
    numpy_dtype,
    parse_values,
)
from socs_tcp._types import ReadableBuffer, Terminator, WriteableBuffer
from socs_tcp.errors import (
    NotConnected,
    ProtocolError,
    ReplyMismatch,
    TransportError,
    TransportTimeout,
    block_too_long,
)

if TYPE_CHECKING:
    import numpy

logger = logging.getLogger("socs_tcp")

__all__ = ["DEFAULT_MAX_SIZE", "TCPInterface"]

_T = TypeVar("_T")


class _state(Generic[_T]):
    """A read-only property that an instance attribute of its name hides.

    For the state names socs_tcp added (``connected``, ``pending``,
    ``health``): a subclass that assigns ``self.connected = ...`` (as socs
    agents keep such flags) gets a plain attribute of its own instead of an
    error. The interface never reads these names through ``self``.
    """

    def __init__(self, fget: Callable[[Any], _T]) -> None:
        self.fget = fget
        self.__doc__ = fget.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _state[_T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...

    def __get__(self, obj: object, owner: type | None = None) -> _T | _state[_T]:
        if obj is None:
            return self
        return self.fget(obj)


# Every interface, so that a forked child can drop what it inherited.
_interfaces: weakref.WeakSet[TCPInterface] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for iface in list(_interfaces):
        iface._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    :meth:`on_connect` replays a device's setup after every connection,
    ``reconnect_backoff`` spaces attempts to reach a device that is down,
    and :attr:`health` is a snapshot for an agent to publish.

    Names socs_tcp added are free for subclasses: the interface's own
    machinery (reconnection, recovery, :meth:`query`, ``with`` and garbage
    collection) never calls :meth:`close`, :meth:`clear`, :meth:`reconnect`,
    :meth:`recv_until` and the like through ``self``, so a driver may define
    them with other meanings (``def close(self): self.comm.close()``,
    ``def clear(self): self.send(b"*CLS\\n")``). It does call the names
    socs.tcp had, in their roles: :meth:`send`, :meth:`recv`, ``_connect``
    and ``_reset``. Assigning ``self.connected`` (or ``self.pending``,
    ``self.health``) stores a plain attribute of that instance, which then
    hides the property for that instance only (reading it gives back what
    was stored); the interface itself never reads these names.

    :meth:`query` goes through :meth:`send` when the driver's class
    overrides it (or wraps it before the instance is made); otherwise it
    sends in one exchange with the transport. So a mock of ``send`` that
    should see queries is put on the driver's class before the instance is
    made, not on the instance or on ``TCPInterface``.

    A process forked while an interface is in use leaves the child with a
    fresh lock and no connection: the child's next command connects anew,
    and the parent's connection is left alone.

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
    query_delay, send_interval, reconnect_interval, idle_check : float, optional
        Override the class attributes of the same names for this instance.
    reconnect_backoff : tuple of float, optional
        Overrides the class attribute of the same name for this instance.
    resync : {"reconnect", "clear", None}, optional
        Overrides the class attribute of the same name for this instance.
    resync_quiet : float, optional
        Overrides the class attribute of the same name for this instance.

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
    reconnect_backoff : tuple of float
        ``(first, most)`` seconds: after a failed attempt to connect, the
        next one waits ``first`` seconds, then twice as long after each
        further failure, up to ``most``, less a random jitter of up to 20%
        (so many agents restarted together do not dial in step). Within the
        wait, a call that would reconnect raises
        :class:`~socs_tcp.NotConnected` at once, saying when the next
        attempt is allowed. ``reconnect_interval`` still applies as the
        floor. Defaults to ``(0, 0)``: no backoff (socs's behaviour).
    resync : {"reconnect", "clear", None}
        What the next command does when the stream may be out of step
        with the commands: after any receive that failed (timed out, cut
        off, too long) and was not retried successfully, after a
        :meth:`query` that failed once it had sent, and after a reply that
        did not match or a bad block header. ``"reconnect"`` (the default)
        opens a new connection first, so a reply still on its way is left
        behind with the old one; ``"clear"`` discards input until the
        device has been quiet for ``resync_quiet`` seconds (for devices
        behind serial-to-Ethernet bridges, where a new connection does not
        empty the bridge's buffer), and reconnects if it never is within
        ``timeout``; None does nothing (socs.tcp's behaviour: the late reply
        is read as the next command's). A receive retried without sending
        keeps every byte. Each resynchronisation is logged once at INFO.
    resync_quiet : float
        Seconds of silence that end a ``resync="clear"``. Defaults to 0.1.
    """

    read_terminator: ClassVar[Terminator] = b"\n"
    write_terminator: ClassVar[bytes] = b"\n"
    query_delay: float = 0.0
    send_interval: float = 0.0
    reconnect_interval: float = 0.0
    idle_check: float = 0.1
    reconnect_backoff: tuple[float, float] = (0.0, 0.0)
    resync: str | None = "reconnect"
    resync_quiet: float = 0.1

    # Class-level values of the state the front manages, so that a subclass
    # may assign ``comm`` (or ``timeout``...) before calling __init__. What
    # the hot paths read is an instance attribute as well (see __init__).
    _comm: socket.socket | None = None
    _tracing = False
    _holder = 0  # the thread in a policy section (see _held), or 0
    _closes = 0  # close() and reconnect() calls: each ends the calls in flight
    _bufsize_checked: int | None = None  # see _check_bufsize
    _dialing: socket.socket | None = None  # a connection being made
    _old: socket.socket | None = None  # shut down, closed after a reconnection
    _io: Transport  # the connection's transport; DISCONNECTED without one
    #: Whether query() may run as one exchange in the transport: not when
    #: the class overrides send(), which query() must then go through. Set
    #: per class, and again per instance in __init__ (see there).
    _exchanges = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._exchanges = cls._sends_as_defined()

    @classmethod
    def _sends_as_defined(cls) -> bool:
        """True unless the class overrides send()."""
        return cls.send is TCPInterface.send

    #: The transport class; the backend chosen by ``SOCS_TCP_BACKEND``.
    _transport_type: ClassVar[type[Transport]] = _backend.Transport

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
        idle_check: float | None = None,
        reconnect_backoff: tuple[float, float] | None = None,
        resync: str | None | object = ...,
        resync_quiet: float | None = None,
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
        self.idle_check = check_seconds(
            cls.idle_check if idle_check is None else idle_check, "idle_check"
        )
        self.reconnect_backoff = check_backoff(
            cls.reconnect_backoff if reconnect_backoff is None else reconnect_backoff
        )
        # None is a policy here, so "not given" is the Ellipsis.
        self.resync = check_resync(cls.resync if resync is ... else resync)
        self.resync_quiet = check_seconds(
            cls.resync_quiet if resync_quiet is None else resync_quiet,
            "resync_quiet",
        )
        # Held by send() and for a whole query(): no command from another
        # thread gets between a query's command and its reply, or its pacing.
        self._lock = threading.RLock()
        self._wake = threading.Condition()  # ends a pacing or query_delay sleep
        self._health = ConnectionLog(self._label)
        self._last_send = -math.inf  # monotonic start of the last send
        self._next_dial = -math.inf  # monotonic time the next attempt is allowed
        self._backoff = 0.0  # the backoff's current step, in seconds
        self._in_on_connect = False
        self._tracing = False
        # The hot paths read these on every call. CPython (3.11 at least)
        # loads an instance's own attribute fastest, and cannot speed up a
        # load that finds a class attribute instead (nor one whose class
        # default is an instance of a Python class, as DISCONNECTED is).
        self._closes = 0
        # As the class is now (a decorator may have wrapped send() since).
        self._exchanges = self._sends_as_defined()
        if self._comm is not None:  # a subclass set comm before __init__
            self._close_connection()
        self._comm = None
        self._io = DISCONNECTED
        _interfaces.add(self)
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
            self._io.holder = self._holder  # a reconnection inside _held()
            self._tracing = _trace.enabled()

    @_state
    def connected(self) -> bool:
        """True while there is an open connection that no call has seen end.

        Turns False as soon as any call meets the end of the stream or a
        reset; the next :meth:`send` or :meth:`query` then reconnects first.
        A subclass may assign its own ``connected`` flag instead (see the
        class's notes).
        """
        return self._ended() is None

    @_state
    def health(self) -> Health:
        """A snapshot of the connection's health, for an agent to publish.

        See :class:`~socs_tcp.Health`: the state and when it last changed,
        consecutive failures, reconnections, timeouts, late replies
        discarded, bytes each way and the last error. Taking one costs no
        I/O beyond one ``getsockopt``.
        """
        return self._health.snapshot(
            self._comm, self._ended() is not None, self._last_send
        )

    def on_connect(self) -> None:
        """Set the device up on a new connection; does nothing unless overridden.

        Called after every successful connection (the first one, made by
        ``__init__``, and every reconnection), before any command goes out,
        to replay what the device forgets with its connection: remote mode,
        echo off, a handshake. It may use :meth:`send`, :meth:`recv` and
        :meth:`query`; they never reconnect from within it. If it raises,
        that connection is closed and the attempt counts as failed: the
        constructor still returns (with ``comm`` None), and a call that
        needed the connection raises :class:`~socs_tcp.NotConnected` whose
        ``__cause__`` is the hook's error.
        """

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
            sock = self._open(address)
        except socket.timeout as exc:  # TimeoutError since 3.10, not before
            self._health.unreachable(
                f"connection not established within {self._timeout} seconds", exc
            )
            return None
        except (OSError, UnicodeError) as exc:
            # UnicodeError: a host name that cannot be encoded for lookup,
            # which is as unreachable as any other.
            self._health.unreachable(f"unable to connect: {exc}", exc)
            return None
        try:
            self._configure(sock)
        except OSError as exc:
            sock.close()
            self._health.unreachable(f"unable to set socket options: {exc}", exc)
            return None
        return sock

    def _open(self, address: tuple[str, int]) -> socket.socket:
        """``socket.create_connection``, where :meth:`close` can end it."""
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, where in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            self._dialing = sock
            try:
                sock.settimeout(self._timeout)
                sock.connect(where)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
            finally:
                self._dialing = None
        raise error or OSError("getaddrinfo returned no address")

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
        """Connect and run :meth:`on_connect` (``comm`` is the result).

        Does nothing while ``reconnect_interval`` or ``reconnect_backoff``
        says wait, or from within :meth:`on_connect`.
        """
        now = time.monotonic()
        if now < self._next_dial or self._in_on_connect:
            return
        self._next_dial = now + self.reconnect_interval
        told = self._health.failed_at
        sock = self._connect((self.ip_address, self.port))
        self.comm = sock
        if sock is not None and self._set_up():
            self._health.connected()
            self._backoff = 0.0
            return
        if sock is None and self._health.failed_at == told:
            # A _connect of a subclass's that did not say why.
            self._health.unreachable("connection not established")
        first, most = self.reconnect_backoff
        if most:
            self._backoff = min(most, 2 * self._backoff or first)
            wait = self._backoff * random.uniform(0.8, 1.0)
            self._next_dial = max(self._next_dial, time.monotonic() + wait)

    def _set_up(self) -> bool:
        """Run :meth:`on_connect` on the new connection; False if it raised.

        A connection whose setup failed is closed: the attempt failed.
        """
        self._in_on_connect = True
        try:
            self.on_connect()
        except BaseException as exc:
            self._close_connection()
            self._health.unreachable(f"on_connect() failed: {exc!r}", exc)
            if not isinstance(exc, Exception):
                raise
            return False
        finally:
            self._in_on_connect = False
        return self._comm is not None

    def _reset(self) -> None:
        """Close the connection, dropping buffered input, and reconnect."""
        self._close_connection(reopening=True)
        try:
            self._dial()
        finally:
            self._drop_old()

    def _replace(self, reason: str) -> None:
        """Reset the connection because of ``reason``; NotConnected if no new one."""
        self._health.replacing(reason)
        before = self._health.consecutive
        self._reset()
        if self._comm is None:
            # An attempt that failed counted itself: the call is the same failure.
            attempted = self._health.consecutive != before
            raise self._failure(self._refusal(), "connect", False, not attempted)

    def _refusal(self) -> NotConnected:
        """Why there is no connection now, as the error to raise.

        Its ``__cause__`` is what made the last attempt fail (the system's
        error, or the exception :meth:`on_connect` raised).
        """
        wait = self._next_dial - time.monotonic()
        if self._in_on_connect:
            error = NotConnected("the connection ended during on_connect()")
        elif wait > 0:
            if self._backoff > self.reconnect_interval:
                why = f"reconnect_backoff={self.reconnect_backoff!r}"
            else:
                why = f"reconnect_interval={self.reconnect_interval:g} s"
            error = NotConnected(
                f"not connected; the next attempt is allowed in {wait:.2g} s "
                f"({why}); last error: {self._health.error}"
            )
        else:
            error = NotConnected(self._health.error)
        error.__cause__ = self._health.cause
        return error

    def reconnect(self) -> None:
        """Close the connection, dropping buffered input, and open a new one.

        A reconnection that ``reconnect_interval`` or ``reconnect_backoff``
        forbids yet is refused before anything is closed: the connection
        in use stays as it is.

        Raises
        ------
        NotConnected
            The device cannot be reached, or an attempt is not allowed yet.
        """
        self._reconnect()

    def _reconnect(self) -> None:
        # The old connection is closed without the lock, as close() does, so
        # a watchdog never waits behind a query's sleep or connect: the
        # call in flight fails at once; the new connection is made held.
        if time.monotonic() < self._next_dial:
            raise self._failure(self._refusal(), "reconnect", False)
        self._health.replacing("reconnect() was called")
        self._end_calls(reopening=True)
        with self._held():
            try:
                if self._comm is None:
                    self._dial()
            finally:
                self._drop_old()
            if self._comm is None:
                raise self._failure(self._refusal(), "connect", False)

    def close(self) -> None:
        """Close the connection; buffered input is dropped (and logged).

        A thread blocked in a receive or a send on this connection wakes at
        once and raises :class:`~socs_tcp.NotConnected`, whichever method it
        is in. A later :meth:`send` or :meth:`query` reconnects. Never waits
        for the lock: a call pacing, sleeping (``query_delay``) or connecting
        in another thread ends at once with NotConnected too, and reconnects
        nothing.
        """
        self._end_calls(reopening=False)

    def _end_calls(self, reopening: bool) -> None:
        """close() and reconnect(): end every call in flight, without the lock.

        A call reads ``_closes`` when it starts (its ticket); one that sees
        it changed raises NotConnected and resends or reopens nothing
        (:meth:`_refuse_if_closed`). Counted before the connection is
        closed, so a call woken by the close always sees it.
        """
        with self._wake:
            self._closes += 1
        dialing = self._dialing
        if dialing is not None:
            _abort(dialing)  # ends a connect() in progress: its call raises
        self._close_connection(reopening)
        with self._wake:
            self._wake.notify_all()  # ends pacing and query_delay sleeps

    def _close_connection(self, reopening: bool = False) -> None:
        """:meth:`close`'s work; what the interface's own machinery calls.

        ``reopening``: a new connection follows at once. The old descriptor
        is then shut down now (every waiter on it wakes) but closed only
        after the new one is made (:meth:`_drop_old`), so the new connection
        never takes its number from under a call that has still to enter
        its system call on it.
        """
        self._drop_old()
        sock, io = self._comm, self._io
        self._health.closing(sock)
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
            if reopening:
                self._old = sock
            else:
                sock.close()

    def _drop_old(self) -> None:
        """Close the descriptor a reconnection kept open (see above)."""
        old, self._old = self._old, None
        if old is not None:
            old.close()

    def _forked(self) -> None:
        """In a forked child: a new lock, and no connection.

        The connection is the parent's: the child closes only its own copy
        of the descriptor (no shutdown, which would end it for the parent),
        and its next command connects anew. The lock may have been held by
        a thread that does not exist in the child.
        """
        self._lock = threading.RLock()
        self._wake = threading.Condition()
        self._holder = 0
        sock = self._comm
        self._comm = None
        self._io = DISCONNECTED
        self._in_on_connect = False
        self._health.closing(None)
        if sock is not None:
            sock.close()

    def __enter__(self) -> TCPInterface:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_connection()

    def __del__(self) -> None:
        sock = getattr(self, "_comm", None)
        if sock is not None:
            sock.close()

    def __repr__(self) -> str:
        state = "connected" if self._ended() is None else "not connected"
        return (
            f"<{type(self).__name__} {self._label} "
            f"backend={self._transport_type.backend} {state}>"
        )

    # -- errors ----------------------------------------------------------

    def _failure(
        self, exc: OSError, what: str, reset: bool, count: bool = True
    ) -> TransportError:
        """The error to raise for ``exc``, naming the device; logged at DEBUG.

        Errors raised to the caller are the caller's to log: the library's
        warnings are for changes of state (see ``socs_tcp._health``). Resets
        the connection first if asked. Every failure of every method goes
        through here, and is counted in :attr:`health`.
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
        if count:
            self._health.failed(str(error), isinstance(error, TransportTimeout))
        closed = self._closes != 0 and isinstance(exc, NotConnected)
        if reset and not closed:
            # (A receive that close() or reconnect() ended reopens nothing.)
            self._health.replacing(str(error))
            self._reset()
        return error

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """A policy section: the lock, and the transport held for this thread.

        The fast paths of :meth:`send` and :meth:`query` do not take the
        lock: the transport refuses them (sends nothing, says so) while
        another thread holds it, and they then wait here. Re-entrant.
        """
        with self._lock:
            outer = self._holder == 0
            if outer:
                self._holder = threading.get_ident()
                self._io.holder = self._holder
            try:
                yield
            finally:
                if outer:
                    self._holder = 0
                    self._io.holder = 0

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
            msg = check_message(msg)
        if not self.send_interval:
            # The fast path: the transport sends unless something needs the
            # policy below (a connection known over, an idle one found
            # closed, the trace on, a query or transaction of another thread
            # in progress); then it sends nothing and says so.
            ticket = self._closes
            try:
                if not self._io.sendall(msg, self._timeout, self.idle_check):
                    return
            except OSError as exc:
                self._send_failed(msg, exc, ticket)
                return
        self._send_checked(msg)

    def _send_checked(self, msg: ReadableBuffer) -> None:
        """send(), paced, after the checks: replace a connection known over."""
        with self._held():
            ticket = self._closes
            now = self._pace(ticket)
            self._refuse_if_closed(ticket)
            last = max(self._last_send, self._io.last_send)
            if self._io.owed and self._ended() is None:
                self._resync()
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
        self._send_failed(msg, first, ticket)

    def _pace(self, ticket: int) -> float:
        """Sleep what is left of ``send_interval``; the monotonic time after.

        ``ticket``: the count of closes when the call started (see _sleep).
        """
        now = time.monotonic()
        if self.send_interval:
            last = max(self._last_send, self._io.last_send)
            wait = last + self.send_interval - now
            if wait > 0:
                self._sleep(wait, ticket)
                now = time.monotonic()
        return now

    def _sleep(self, seconds: float, ticket: int) -> None:
        """Sleep, unless :meth:`close` or :meth:`reconnect` (from another
        thread) comes first, or came since the call read ``ticket``."""
        with self._wake:
            self._wake.wait_for(lambda: self._closes != ticket, seconds)

    def _refuse_if_closed(self, ticket: int) -> None:
        """NotConnected if :meth:`close` or :meth:`reconnect` came since the
        call read ``ticket``: they win over the calls they interrupt, and
        nothing reconnects or resends until a later call starts."""
        if self._closes != ticket:
            raise self._failure(
                NotConnected("close() or reconnect() was called during the call"),
                "send",
                False,
            )

    def _resync(self) -> None:
        """Bring an out-of-step stream back in step, as ``resync`` says.

        Called with the lock held, before a command goes out on a
        connection that is still open; NotConnected if a reconnection
        fails.
        """
        io = self._io
        sock = self._comm
        gone = closed_by_peer(sock) if sock is not None else None
        if gone is not None:  # the real reason: a new connection is needed anyway
            self._replace(gone)
            return
        why = "an earlier reply may still be on its way"
        if self.resync == "clear":
            try:
                count, _ = io.clear(PREVIEW, self.resync_quiet, self._timeout)
            except OSError as exc:
                why = f"the device was not quiet for {self.resync_quiet:g} s: {exc}"
            else:
                io.owed = False
                self._health.discarded_late()
                logger.info(
                    "%s: resynchronised: %s; discarded %d bytes until the "
                    "device was quiet for %g s",
                    self._label,
                    why,
                    count,
                    self.resync_quiet,
                )
                return
        elif self.resync is None:
            io.owed = False
            return
        # Logged once, at INFO, as the reconnection's reason.
        self._replace(f"resynchronising: {why}")

    def _send_failed(self, msg: ReadableBuffer, exc: OSError, ticket: int) -> None:
        """A send failed: reset, and send once more; not after close() (see
        _refuse_if_closed)."""
        with self._held():
            self._refuse_if_closed(ticket)
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
        if bufsize is not self._bufsize_checked:
            bufsize = self._check_bufsize(bufsize)
            if not bufsize:
                return b""
        try:
            data = self._io.recv(bufsize, self._timeout)
        except OSError as exc:
            raise self._failure(exc, "recv", reset_on_error) from None
        if self._tracing:
            _trace.record(self._label, "<", data)
        return data

    def _check_bufsize(self, bufsize: Any) -> int:
        """recv()'s ``bufsize``, checked. An int taken as it is, it is
        remembered: the next call passing the same object (a literal or the
        default, as a polling loop does) skips the check."""
        checked = check_bufsize(bufsize)
        if type(bufsize) is int and checked == bufsize and checked:
            self._bufsize_checked = bufsize
        return checked

    # -- beyond socs -----------------------------------------------------

    @_state
    def pending(self) -> int:
        """Number of received bytes buffered and not yet returned.

        A subclass may assign its own ``pending`` instead (see the class's
        notes).
        """
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

    # What the interface's own machinery calls: a subclass's recv_until is
    # its own business.
    _recv_until = recv_until

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
                self._fill_view(view, nbytes, timeout)
            except OSError as exc:
                raise self._failure(exc, "recv_exactly_into", reset_on_error) from None
            return nbytes

    def _fill_view(self, view: memoryview, nbytes: int, timeout: float | None) -> None:
        """Receive exactly ``nbytes`` into ``view``; the transport's errors, raw.

        What :meth:`recv_exactly_into` and a block read into a buffer share;
        their callers turn the errors into the caller's (once).
        """
        self._io.recv_exactly_into(view, nbytes, timeout)
        if self._tracing:
            _trace.record(self._label, "<", view[:nbytes])

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

    # What query() calls: drivers define clear() to send *CLS.
    _clear = clear

    def query(
        self,
        msg: ReadableBuffer,
        terminator: Terminator | None = None,
        timeout: float | None = None,
        clear: bool = True,
        expect: Expect | None = None,
    ) -> bytes:
        """Send a command and return its reply, without the terminator.

        The reply is this command's own, or an exception: never a reply that
        belongs to an earlier command. When a query fails after sending (a
        timeout, say), its reply may still come; the next command first
        resynchronises as ``resync`` says (by default it reconnects, so that
        a reply still on its way is left behind with the old connection
        instead of being taken for the new command's).

        Holds a per-instance lock for the whole exchange, so queries and
        sends from other threads never get between a command and its reply.
        Every argument is checked before anything is sent. Waits
        ``query_delay`` between sending and reading.

        The arguments after ``msg`` are best given by keyword. They are not
        keyword-only because CPython calls a method with keyword-only
        parameters through its generic path (about 700 more machine
        instructions per call, counted with callgrind), and a polling loop
        makes this call for every reading.

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
        expect : re.Pattern of bytes, or bytes, optional
            What the reply (terminator removed) must be: a compiled regex it
            must match whole (``fullmatch``), or a prefix it must start
            with. A reply that does not match raises :class:`ReplyMismatch`
            and counts as lost sync: the next query resynchronises first.

        Returns
        -------
        bytes
            The reply, its terminator removed.

        Raises
        ------
        TypeError, ValueError
            A bad argument: nothing was sent.
        ReplyMismatch
            The reply does not match ``expect`` (a ``ConnectionError``;
            ``.reply`` holds it).
        ConnectionError
            As :meth:`send` and :meth:`recv_until` raise.
        """
        if type(msg) is bytes:
            command = msg + self.write_terminator
        else:
            check_message(msg)
            command = b"".join((msg, self.write_terminator))
        if terminator is None:
            terminator = self.read_terminator
        if timeout is not None:
            timeout = check_timeout(timeout)
        if clear is not True and clear is not False:
            raise TypeError(f"clear must be True or False, not {clear!r}")
        if expect is not None:
            check_expect(expect)
        if self._exchanges and not (self.query_delay or self.send_interval):
            # The fast path: one exchange in the transport (drop stale input,
            # send, frame the reply). It sends nothing, and says why, when
            # the policy below is needed first.
            io, ticket = self._io, self._closes
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
                reply = self._query_checked(
                    command, terminator, timeout, clear, (exc, ticket)
                )
            else:
                if type(reply) is not bytes:
                    reply = self._query_checked(
                        command, terminator, timeout, clear, None
                    )
        else:
            reply = self._query_checked(command, terminator, timeout, clear, None)
        if expect is not None and not matches(expect, reply):
            raise self._mismatch(expect, reply)
        return reply

    def _query_checked(
        self,
        command: bytes,
        terminator: Terminator,
        timeout: float | None,
        clear: bool,
        failed: tuple[OSError, int] | None,
    ) -> bytes:
        """query() with the policy: pace, resynchronise, reconnect.

        ``failed``: the fast path's send failed (nothing owed); it is reset
        and sent once more, as send() does.
        """
        terms = check_terminators(terminator)
        with self._exchange(command, terminator, clear, failed):
            reply = self._recv_until(terminator, timeout=timeout)
        # The frame ends in one of terms; they are sorted longest first.
        return reply[: -len(next(t for t in terms if reply.endswith(t)))]

    # -- instrument protocols --------------------------------------------
    #
    # IEEE 488.2 blocks, replies that end in silence, multi-step exchanges,
    # replies that must match, and lists of numbers. The loops that must
    # keep bytes buffered when they fail are the transport's (peek, fill,
    # recv_quiet, recv_block_header); what is here is policy. Public names
    # are never called through ``self``: subclasses may define them.

    def _lost_sync(self, reason: str) -> None:
        """The stream is out of step with the commands: the next command
        resynchronises first (as after a receive that timed out)."""
        logger.debug("%s: out of sync: %s", self._label, reason)
        self._io.owed = True

    def _mismatch(self, expect: Expect, reply: bytes) -> TransportError:
        """The error for a reply that does not match; counted, lost sync."""
        self._health.mismatch()
        self._lost_sync("a reply did not match what its query expected")
        return self._failure(ReplyMismatch.of(expect, reply), "query", False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[TCPInterface]:
        """Hold the interface for a sequence of calls from one thread.

        ``with iface.transaction():`` takes the lock every :meth:`send` and
        :meth:`query` takes, so no other thread's command gets between the
        steps of a multi-step exchange (a command, an ACK, an ENQ, the
        reply). Re-entrant: the calls inside, and nested transactions, take
        it again freely. :meth:`close` from another thread does not wait for
        it: a call in the transaction that is waiting then raises
        :class:`~socs_tcp.NotConnected` at once.

        Yields
        ------
        TCPInterface
            This interface.
        """
        with self._held():
            yield self

    @contextlib.contextmanager
    def _exchange(
        self,
        command: bytes,
        terminator: Terminator,
        clear: bool,
        failed: tuple[OSError, int] | None = None,
    ) -> Iterator[None]:
        """Send ``command`` as :meth:`query` does; the block reads the reply.

        Held, with query()'s protection from stale replies: paced first,
        then an out-of-step stream is resynchronised (else stale input is
        cleared if asked), and a failure anywhere leaves the stream owed.
        ``failed``: a send of ``command`` failed already on a transport
        (nothing owed); the connection is reset and it is sent once more, as
        send() does.
        """
        with self._held():
            if failed is not None:
                exc, ticket = failed
                self._send_failed(command, exc, ticket)
            else:
                # Pace first: what arrives during the wait is stale too.
                ticket = self._closes
                self._pace(ticket)
                self._refuse_if_closed(ticket)
                if self._ended() is None:  # else send() reconnects
                    if self._io.owed:
                        self._resync()
                    elif clear:
                        self._clear()
                self.send(command)
            try:
                if self.query_delay:
                    self._sleep(self.query_delay, ticket)
                self._refuse_if_closed(ticket)  # the command went out in vain
                yield
            except BaseException:
                self._lost_sync("a query failed after sending")
                raise

    def recv_quiet(
        self,
        idle: float,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        reset_on_error: bool = False,
    ) -> bytes:
        """Receive everything until the device has been silent ``idle`` seconds.

        For replies of unknown length with no terminator (a multi-line
        listing): at least one byte, then whatever follows without a pause
        of ``idle`` seconds.

        Parameters
        ----------
        idle : float
            Seconds of silence that end the reply (> 0).
        timeout : float, optional
            Seconds for the whole call, also when the device never pauses.
            Defaults to the interface's ``timeout``.
        max_size : int, optional
            Most bytes accepted. Defaults to 1 MiB.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        bytes
            What arrived, buffered bytes first.

        Raises
        ------
        TransportTimeout
            Nothing arrived within ``timeout``, or data kept coming with no
            room left for ``idle`` seconds of silence; the bytes stay
            buffered and ``.partial`` is a copy.
        FrameTooLong
            ``max_size`` bytes without a pause (they stay buffered).
        IncompleteRead
            The device closed the connection (the bytes stay buffered).
        ConnectionError
            Not connected, or the receive failed.
        """
        idle = _check_idle(idle)
        timeout = self._deadline_arg(timeout)
        max_size = check_max_size(max_size)
        try:
            data = self._io.recv_quiet(idle, timeout, max_size)
        except OSError as exc:
            raise self._failure(exc, "recv_quiet", reset_on_error) from None
        if self._tracing:
            _trace.record(self._label, "<", data)
        return data

    def query_quiet(
        self,
        msg: ReadableBuffer,
        idle: float,
        *,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        clear: bool = True,
    ) -> bytes:
        """Send a command; return its reply, which ends in ``idle`` s of silence.

        As :meth:`query` (the lock, ``write_terminator``, ``query_delay``,
        the protection from stale replies), with the reply read by
        :meth:`recv_quiet`. For a prompt device (``:`` or ``> ``), prefer
        ``query(msg, terminator=b"> ")``: it returns when the prompt comes,
        with no wait.

        Returns
        -------
        bytes
            The reply, as it came.

        Raises
        ------
        TypeError, ValueError
            A bad argument: nothing was sent.
        ConnectionError
            As :meth:`send` and :meth:`recv_quiet` raise.
        """
        check_message(msg)
        idle = _check_idle(idle)
        timeout = self._deadline_arg(timeout)
        max_size = check_max_size(max_size)
        with self._exchange(
            b"".join((msg, self.write_terminator)),
            self.read_terminator,
            _check_flag(clear, "clear"),
        ):
            return TCPInterface.recv_quiet(self, idle, timeout, max_size)

    def recv_block(
        self,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_BLOCK,
        *,
        trailing: bool = True,
        terminator: Terminator | None = None,
        reset_on_error: bool = False,
    ) -> bytes:
        """Receive an IEEE 488.2 block, ``#<n><length><data>``; return the data.

        The data may hold any bytes, terminators and ``#`` included: a
        definite block is read by its declared length. An indefinite block,
        ``#0<data>``, ends at the read terminator (not returned). On a
        timeout nothing is lost: the whole block, header included, stays
        buffered, so a retry continues it.

        Parameters
        ----------
        timeout : float, optional
            Seconds for the whole call (header, data and terminator).
            Defaults to the interface's ``timeout``.
        max_size : int, optional
            Largest block accepted. Defaults to 256 MiB.
        trailing : bool, optional
            A definite block is followed by the read terminator, which is
            consumed: the call waits for it. Defaults to True; pass False
            for a device that sends nothing after a block.
        terminator : bytes or tuple of bytes, optional
            The read terminator. Defaults to ``read_terminator``.
        reset_on_error : bool, optional
            Reset the connection (dropping buffered input) on any failure.

        Returns
        -------
        bytes
            The block's data.

        Raises
        ------
        ProtocolError
            What came is not a block header: ``.partial`` holds the bytes
            seen (still buffered), and the stream counts as out of sync.
        FrameTooLong
            The block declares more than ``max_size`` bytes.
        TransportTimeout, IncompleteRead, ConnectionError
            As for :meth:`recv_exactly`.
        """
        return self._block(
            "recv_block", timeout, max_size, trailing, terminator, reset_on_error
        )

    def recv_block_into(
        self,
        buffer: WriteableBuffer,
        timeout: float | None = None,
        *,
        trailing: bool = True,
        terminator: Terminator | None = None,
        reset_on_error: bool = False,
    ) -> int:
        """Receive an IEEE 488.2 block into a caller's buffer; return its size.

        As :meth:`recv_block`, with the data received straight into
        ``buffer`` (a ``bytearray``, ``memoryview`` or NumPy array): no copy
        of a definite block's data beyond the bytes already buffered when it
        starts. A block longer than ``buffer`` raises
        :class:`~socs_tcp.FrameTooLong` before anything is consumed. Once
        its data has started, a failure leaves what arrived in ``buffer``
        (``.partial`` is a copy) and the stream out of sync.

        Returns
        -------
        int
            The data's size: ``buffer`` holds it from its start.
        """
        with check_buffer(buffer) as view:
            return self._block(
                "recv_block_into",
                timeout,
                len(view),
                trailing,
                terminator,
                reset_on_error,
                lambda length: view,
            )

    @overload
    def query_block(
        self,
        msg: ReadableBuffer,
        *,
        dtype: None = None,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_BLOCK,
        trailing: bool = True,
        clear: bool = True,
    ) -> bytes: ...

    @overload
    def query_block(
        self,
        msg: ReadableBuffer,
        *,
        dtype: Any,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_BLOCK,
        trailing: bool = True,
        clear: bool = True,
    ) -> numpy.ndarray[Any, Any]: ...

    def query_block(
        self,
        msg: ReadableBuffer,
        *,
        dtype: Any = None,
        timeout: float | None = None,
        max_size: int | None = DEFAULT_MAX_BLOCK,
        trailing: bool = True,
        clear: bool = True,
    ) -> bytes | numpy.ndarray[Any, Any]:
        """Send a command; return the IEEE 488.2 block that answers it.

        As :meth:`query` (the lock, ``write_terminator``, ``query_delay``,
        the protection from stale replies), with the reply read by
        :meth:`recv_block`.

        Parameters
        ----------
        msg : bytes
            The command; ``write_terminator`` is appended.
        dtype : numpy dtype, optional
            Return a NumPy array of this dtype (any dtype string or object;
            the byte order as given, e.g. ``">f4"``) over the data, which is
            received straight into it. Needs NumPy. Defaults to None: the
            data's bytes.
        timeout, max_size, trailing
            As for :meth:`recv_block`.
        clear : bool, optional
            As for :meth:`query`.

        Returns
        -------
        bytes or numpy.ndarray
            The block's data.

        Raises
        ------
        ImportError
            ``dtype`` was given and NumPy is not installed (nothing was sent).
        ProtocolError
            Not a block, or (with ``dtype``) not a whole number of items.
        ConnectionError
            As :meth:`send` and :meth:`recv_block` raise.
        """
        check_message(msg)
        dt = None if dtype is None else numpy_dtype(dtype)
        timeout = self._deadline_arg(timeout)
        max_size = check_max_size(max_size)
        _check_flag(trailing, "trailing")
        terminator = self.read_terminator
        with self._exchange(
            b"".join((msg, self.write_terminator)),
            terminator,
            _check_flag(clear, "clear"),
        ):
            if dt is None:
                return self._block(
                    "query_block", timeout, max_size, trailing, terminator, False
                )
            arrays: list[numpy.ndarray[Any, Any]] = []

            def array_of(length: int) -> memoryview:
                if length % dt.itemsize:
                    raise ProtocolError(
                        f"a block of {length} bytes is not a whole number of "
                        f"{dt} items ({dt.itemsize} bytes each)"
                    )
                arrays.append(empty_array(length // dt.itemsize, dt))
                return byte_view(arrays[0])

            count = self._block(
                "query_block", timeout, max_size, trailing, terminator, False, array_of
            )
            return arrays[0][: count // dt.itemsize]

    def _block(
        self,
        what: str,
        timeout: float | None,
        max_size: int | None,
        trailing: bool,
        terminator: Terminator | None,
        reset_on_error: bool,
        into: Callable[[int], memoryview] | None = None,
    ) -> Any:
        """Read one block: its data as bytes, or into ``into(length)``'s view.

        One deadline for the header, the data and the terminator. Without
        ``into``, nothing is consumed until the whole block (and its
        terminator) is buffered. With it, the data goes straight into the
        view once it is known to fit.
        """
        timeout = self._deadline_arg(timeout)
        max_size = check_max_size(max_size)
        _check_flag(trailing, "trailing")
        if terminator is None:
            terminator = self.read_terminator
        terms = check_terminators(terminator)
        deadline = None if timeout is None else time.monotonic() + timeout
        io = self._io
        started = False  # data consumed: a failure leaves the stream out of sync
        try:
            header, length = io.recv_block_header(timeout)
            if length < 0:  # indefinite: up to the terminator
                frame = io.recv_until(
                    terms, _left(deadline), header + max_size + len(terms[0])
                )
                end = len(frame) - len(next(t for t in terms if frame.endswith(t)))
                data = memoryview(frame)[header:end]
                if into is None:
                    return bytes(data)
                started = True
                into(len(data))[: len(data)] = data
                return len(data)
            if length > max_size:
                limit = "max_size" if into is None else "the buffer"
                raise block_too_long(length, max_size, limit, io.peek(0, header))
            if into is None:
                end = header + length
                io.fill(end, _left(deadline))
                skip = self._terminator_at(end, terms, deadline) if trailing else 0
                io.recv_exactly(header, 0.0)
                data_bytes = io.recv_exactly(length, 0.0)
                io.recv_exactly(skip, 0.0)
                if self._tracing:
                    _trace.record(self._label, "<", data_bytes)
                return data_bytes
            view = into(length)
            io.recv_exactly(header, 0.0)
            started = True
            if length:
                self._fill_view(view, length, _left(deadline))
            if trailing:
                io.recv_exactly(self._terminator_at(0, terms, deadline), 0.0)
            return length
        except OSError as exc:
            if isinstance(exc, TransportTimeout):
                # Each step had what was left: name the call's own timeout.
                exc = TransportTimeout.expired(timeout, exc.partial)
            if started or isinstance(exc, ProtocolError):
                self._lost_sync(f"{what} failed: {exc}")
            raise self._failure(exc, what, reset_on_error) from None

    def _terminator_at(
        self, offset: int, terms: tuple[bytes, ...], deadline: float | None
    ) -> int:
        """Size of the terminator buffered at ``offset``, waiting for it; or 0.

        Waits only while the bytes there could still begin one of ``terms``
        (longest first), so whatever the chunking, a terminator is never
        left half-read, and other bytes are never waited past.
        """
        io = self._io
        for term in terms:
            head = io.peek(offset, len(term))
            while len(head) < len(term) and term.startswith(head):
                io.fill(offset + len(head) + 1, _left(deadline))
                head = io.peek(offset, len(term))
            if head == term:
                return len(term)
        return 0

    def query_values(
        self,
        msg: ReadableBuffer,
        *,
        separator: bytes = b",",
        converter: Callable[[str], Any] = float,
        terminator: Terminator | None = None,
        timeout: float | None = None,
        clear: bool = True,
        expect: Expect | None = None,
    ) -> list[Any]:
        """Send a command; return the values of its ASCII reply, as a list.

        ``b"1.0,2.5E-3"`` gives ``[1.0, 0.0025]``: the reply is split at
        ``separator``, each field stripped of blanks, decoded as ASCII and
        passed to ``converter``. An empty reply gives ``[]``.

        Parameters
        ----------
        msg : bytes
            The command; ``write_terminator`` is appended.
        separator : bytes, optional
            What separates the values. Defaults to ``b","``.
        converter : callable, optional
            Makes a value of a field (a ``str``): ``float`` (the default),
            ``int``, ``lambda s: int(s, 16)``, ``decimal.Decimal``...
        terminator, timeout, clear, expect
            As for :meth:`query`.

        Returns
        -------
        list
            The values, in order.

        Raises
        ------
        ValueError
            A field did not convert: the message names it, by position and
            content.
        ConnectionError
            As :meth:`query` raises.
        """
        separator = check_separator(separator)
        if not callable(converter):
            raise TypeError(
                f"converter must be callable, such as float, not {converter!r}"
            )
        reply = TCPInterface.query(
            self,
            msg,
            terminator=terminator,
            timeout=timeout,
            clear=clear,
            expect=expect,
        )
        return parse_values(reply, separator, converter)


def _left(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (None: no limit), never negative."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _check_idle(idle: Any) -> float:
    value = check_seconds(idle, "idle")
    if not value:
        raise ValueError("idle must be > 0 seconds of silence, e.g. 0.1")
    return value


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _abort(sock: socket.socket) -> None:
    """End whatever ``sock`` is doing in another thread (a connect, a wait)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet, or any more
    sock.close()
