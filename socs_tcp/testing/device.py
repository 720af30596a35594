"""``FakeDevice``: a scripted TCP device on loopback, in a background thread.

One thread runs a selector over the listening socket, every client and one
end of a socket pair the other threads write to when they need the loop:
to stop, or to carry out ``down()``, ``up()``, ``send()`` and ``inject()``.
Replies, chunks, delays and closes are timers in the same loop, so nothing
ever sleeps and ``stop()`` returns as soon as the loop sees the wake-up.
"""

from __future__ import annotations

import errno
import functools
import heapq
import itertools
import logging
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable

from socs_tcp.testing.faults import _DROPS, Faults
from socs_tcp.testing.framing import Framer, by_terminator
from socs_tcp.testing.responses import Responses, ResponseTable

__all__ = ["Event", "FakeDevice"]

logger = logging.getLogger("socs_tcp.testing")

#: Seconds a control call waits for the device's thread before giving up.
_CONTROL_TIMEOUT = 5.0
_RECV_SIZE = 65536
#: Bytes of each event a transcript shows.
_SHOWN = 64
_LINGER_RST = struct.pack("ii", 1, 0)

#: Called with every device started: how the pytest plugin finds the devices
#: of a test, to show their transcripts when it fails.
_observers: list[Callable[[FakeDevice], None]] = []


@dataclass(frozen=True)
class Event:
    """One line of a device's transcript.

    Attributes
    ----------
    time : float
        Seconds since the device started.
    client : int
        Which connection, numbered from 1 in the order they were accepted.
    kind : str
        ``"received"`` (a framed command), ``"sent"`` (bytes written),
        ``"connected"``, ``"closed"`` (by the client), ``"dropped"`` (by the
        device: a fault, ``down()`` or ``stop()``), or ``"error"`` (a
        response callable raised; ``data`` holds its message).
    data : bytes
        The command, without its terminator, or the bytes sent.
    """

    time: float
    client: int
    kind: str
    data: bytes = b""

    def __str__(self) -> str:
        arrow = {"received": "<-", "sent": "->"}.get(self.kind, "--")
        text = repr(self.data[:_SHOWN]) if self.data or arrow != "--" else ""
        if len(self.data) > _SHOWN:
            text += f"... ({len(self.data)} bytes)"
        line = f"{self.time:9.4f} s  #{self.client} {arrow} {self.kind:<8} {text}"
        return line.rstrip()


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    number: int
    active: float
    inbox: bytes = b""
    outbox: bytearray = field(default_factory=bytearray)
    busy_until: float = 0.0
    replies: int = 0
    held: bytes | None = None
    close_after_flush: str | None = None
    open: bool = True


class FakeDevice:
    """A TCP device on loopback that speaks a dialogue and misbehaves on request.

    It starts serving when constructed; use it as a context manager, or call
    :meth:`stop`. Any number of clients may connect at once.

    Parameters
    ----------
    responses : dict or callable
        What the device answers. Keys are ``bytes`` commands (without their
        terminator) or compiled ``bytes`` regexes (``fullmatch``); values are
        ``bytes``, a list of ``bytes`` served in turn (the last repeats), a
        callable ``(command, match) -> bytes | None`` (``match`` is None for a
        ``bytes`` key), or None for no reply. Or one callable
        ``command -> bytes | None`` for every command, such as a method of a
        stateful device object.
    terminator : bytes or None
        What ends each command. None: commands are cut by ``framer``.
        Defaults to ``b"\\n"``.
    reply_terminator : bytes or None
        Appended to each reply. Defaults to ``terminator`` (``b""`` with a
        framer).
    host : str
        Address to listen on: ``"127.0.0.1"`` (default) or ``"::1"``.
    port : int
        Port to listen on; 0 (default) picks a free one.
    framer : callable, optional
        ``framer(buffer) -> (command, rest) | None`` for binary protocols,
        with ``terminator=None``; see :mod:`socs_tcp.testing.framing`.
    default : bytes, optional
        The reply to a command no key matches. Defaults to no reply.
    name : str, optional
        A name for logs and the transcript's title.
    greeting : bytes, optional
        Sent to each connection as soon as it is accepted, as devices that
        print a banner or a prompt do. Defaults to nothing.
    **faults
        Faults active from the start; see :class:`Faults` and :meth:`inject`.

    Attributes
    ----------
    address : tuple of (str, int)
        ``(host, port)`` to connect to.
    received : list of bytes
        Every command received so far, terminators stripped, in order.
    transcript : list of Event
        Everything that happened, with times.
    errors : list of Exception
        Exceptions raised by response callables; :meth:`stop` re-raises the
        first one.
    """

    def __init__(
        self,
        responses: Responses,
        *,
        terminator: bytes | None = b"\n",
        reply_terminator: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        framer: Framer | None = None,
        default: bytes | None = None,
        name: str = "FakeDevice",
        greeting: bytes = b"",
        **faults: Any,
    ) -> None:
        self._table = ResponseTable(responses, default)
        if terminator is None:
            if framer is None:
                raise TypeError(
                    "terminator=None needs a framer: pass framer=fixed_length(n), "
                    "length_prefixed(...) or mbap() from socs_tcp.testing"
                )
            self._framer = framer
        else:
            if framer is not None:
                raise TypeError("pass either a terminator or a framer, not both")
            if not isinstance(terminator, bytes) or not terminator:
                raise TypeError(
                    f"terminator must be non-empty bytes such as b'\\r\\n', or None "
                    f"with a framer, not {terminator!r}"
                )
            self._framer = by_terminator(terminator)
        if reply_terminator is None:
            reply_terminator = terminator or b""
        if not isinstance(reply_terminator, bytes):
            raise TypeError(f"reply_terminator must be bytes, not {reply_terminator!r}")
        self.terminator = terminator
        self.reply_terminator = reply_terminator
        self.name = name
        if not isinstance(greeting, bytes):
            raise TypeError(f"greeting must be bytes, not {greeting!r}")
        self.greeting = greeting
        self._faults = Faults.of(faults)

        self.received: list[bytes] = []
        self.transcript: list[Event] = []
        self.errors: list[Exception] = []
        self._connections = 0
        self._clients: dict[socket.socket, _Client] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._changed = threading.Condition()
        self._calls: list[tuple[Callable[[], object], _Call]] = []
        self._calls_lock = threading.Lock()
        self._stopped = False

        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = self._bind(host, port)
        try:
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            raise
        self.address: tuple[str, int] = (host, self._listener.getsockname()[1])
        self._listening = True
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"{name} {host}:{self.address[1]}", daemon=True
        )
        self._thread.start()
        logger.debug("%s serving on %s:%d", name, *self.address)
        for observer in list(_observers):
            observer(self)

    # -- public API ------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the device listens on."""
        return self.address[0]

    @property
    def port(self) -> int:
        """The port the device listens on."""
        return self.address[1]

    @property
    def connections(self) -> int:
        """How many connections were accepted so far (refused ones included)."""
        return self._connections

    @property
    def clients(self) -> int:
        """How many connections are open now."""
        return len(self._clients)

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped

    def inject(self, **faults: Any) -> None:
        """Replace the active faults; with no argument, clear them.

        Faults apply to what happens from now on: commands that arrive
        later, connections accepted later. Replies already scheduled keep
        the faults they were scheduled with.

        Parameters
        ----------
        **faults
            ``latency``, ``chunk``, ``chunk_delay``, ``silent``, ``drop``,
            ``drop_after``, ``idle_close``, ``garbage``, ``late``, ``refuse``;
            see :class:`Faults`.
        """
        new = Faults.of(faults)
        self._call(lambda: setattr(self, "_faults", new))

    def down(self, drop: str = "fin") -> None:
        """Refuse new connections and drop the open ones.

        The port stays reserved for :meth:`up`: connecting is refused, as
        for a device that is switched off.

        Parameters
        ----------
        drop : {"fin", "rst"}
            Close open connections with a FIN (default) or a reset.
        """
        if drop not in _DROPS:
            raise ValueError(f'drop must be "fin" or "rst", not {drop!r}')
        self._call(lambda: self._down(drop))

    def up(self) -> None:
        """Serve again, on the same port, after :meth:`down`."""
        self._call(self._up)

    def send(self, data: bytes) -> int:
        """Push unsolicited bytes to every open connection, as they are.

        Parameters
        ----------
        data : bytes
            What to send (no terminator is added).

        Returns
        -------
        int
            How many connections it went to.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        payload = bytes(data)
        result = self._call(lambda: self._broadcast(payload))
        assert isinstance(result, int)
        return result

    def wait_received(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until at least ``count`` commands were received in all.

        Parameters
        ----------
        count : int
            Commands to wait for.
        timeout : float
            Seconds to wait at most.

        Returns
        -------
        list of bytes
            A copy of :attr:`received`.

        Raises
        ------
        TimeoutError
            Fewer commands arrived within ``timeout``.
        """
        self._wait(lambda: len(self.received) >= count, timeout, f"{count} commands")
        return list(self.received)

    def wait_clients(self, count: int, timeout: float = 5.0) -> None:
        """Wait until exactly ``count`` connections are open.

        Parameters
        ----------
        count : int
            Open connections to wait for.
        timeout : float
            Seconds to wait at most.

        Raises
        ------
        TimeoutError
            The count was not reached within ``timeout``.
        """
        self._wait(lambda: len(self._clients) == count, timeout, f"{count} clients")

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every reply the device owes has been sent.

        Replies held back by ``latency``, ``chunk_delay`` or ``late`` (the
        last one held by ``late`` is still owed) count as not sent. On
        loopback, sent bytes are in the client's socket when this returns.

        Parameters
        ----------
        timeout : float
            Seconds to wait at most.

        Raises
        ------
        TimeoutError
            Replies were still owed after ``timeout``.
        """
        self._wait(self._idle, timeout, "idle moment")

    def _idle(self) -> bool:
        clients = list(self._clients.values())
        return not self._timers and not any(c.outbox for c in clients)

    def transcript_text(self) -> str:
        """The transcript, one event per line, for humans.

        Returns
        -------
        str
            A title line naming the device, then the events.
        """
        active = self._faults.active()
        title = f"{self.name} on {self.host}:{self.port}"
        if active:
            title += " faults " + ", ".join(f"{k}={v!r}" for k, v in active.items())
        return "\n".join([title, *(str(event) for event in list(self.transcript))])

    def stop(self, check: bool = True) -> None:
        """Stop serving: close every socket and join the thread.

        Calling it again does nothing.

        Parameters
        ----------
        check : bool
            Re-raise the first exception a response callable raised (the
            device did not reply to that command). Defaults to True.
        """
        if not self._stopped:
            self._stopped = True
            self._wake()
            self._thread.join(_CONTROL_TIMEOUT)
            if self._thread.is_alive():  # pragma: no cover - a bug, not a state
                raise RuntimeError(f"{self.name}: the device thread did not stop")
            self._close_all()
        if check and self.errors:
            raise self.errors[0]

    close = stop

    def __enter__(self) -> FakeDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(check=exc_type is None)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"{self.clients} clients"
        return f"<FakeDevice {self.name} {self.host}:{self.port} {state}>"

    # -- control from other threads -------------------------------------

    def _call(self, action: Callable[[], object]) -> object:
        """Run ``action`` in the device's thread and return its result."""
        if threading.current_thread() is self._thread:
            return action()
        if self._stopped:
            raise RuntimeError(f"{self.name} is stopped")
        call = _Call()
        with self._calls_lock:
            self._calls.append((action, call))
        self._wake()
        if not call.done.wait(_CONTROL_TIMEOUT):
            raise RuntimeError(f"{self.name}: the device thread did not answer")
        if call.error is not None:
            raise call.error
        return call.result

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except BlockingIOError:
            pass  # a wake-up is pending already

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"{self.name}: no {what} within {timeout} s")

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- the loop ---------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopped:
                wait = None
                if self._timers:
                    wait = max(0.0, self._timers[0][0] - time.monotonic())
                idle = self._faults.idle_close
                if idle is not None and self._clients:
                    oldest = min(c.active for c in self._clients.values())
                    until = max(0.0, oldest + idle - time.monotonic())
                    wait = until if wait is None else min(wait, until)
                for key, mask in self._selector.select(wait):
                    if key.data == "wake":
                        self._drain_wake()
                    elif key.data == "listen":
                        self._accept()
                    else:
                        self._serve(key.data, mask)
                self._run_calls()
                self._run_timers()
                self._close_idle()
        except Exception as exc:  # pragma: no cover - a bug in the device
            logger.exception("%s: the device loop failed", self.name)
            self.errors.append(exc)
            self._stopped = True
        finally:
            self._run_calls()  # answer callers waiting on a stopped device

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for action, call in calls:
            if self._stopped:
                call.error = RuntimeError(f"{self.name} is stopped")
            else:
                try:
                    call.result = action()
                except Exception as exc:
                    call.error = exc
            call.done.set()

    def _run_timers(self) -> None:
        now = time.monotonic()
        ran = False
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()
            ran = True
        if ran:
            self._notify()

    def _later(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._sequence), action))

    def _log(self, client: _Client, kind: str, data: bytes = b"") -> None:
        now = time.monotonic() - self._started
        self.transcript.append(Event(now, client.number, kind, data))
        if data:
            logger.debug("%s #%d %s %r", self.name, client.number, kind, data)
        else:
            logger.debug("%s #%d %s", self.name, client.number, kind)

    # -- connections ------------------------------------------------------

    def _bind(self, host: str, port: int) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    exc.errno,
                    f"cannot listen on {host}:{port}: the port is in use by "
                    f"another program; pick another port, or port=0 for a free one",
                ) from None
            raise OSError(
                exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        return sock

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:  # none waiting, or one reset while in the backlog
                return
            self._connections += 1
            client = _Client(sock, self._connections, time.monotonic())
            self._log(client, "connected")
            if self._faults.refuse:
                sock.close()
                self._log(client, "dropped")
                self._notify()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients[sock] = client
            self._selector.register(sock, selectors.EVENT_READ, client)
            if self.greeting:
                self._schedule(client, self.greeting, time.monotonic(), self._faults)
            self._notify()

    def _serve(self, client: _Client, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if not client.open or not mask & selectors.EVENT_READ:
            return
        try:
            data = client.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client, None)
            return
        client.active = time.monotonic()
        client.inbox += data
        while client.open:
            framed = self._framer(client.inbox)
            if framed is None:
                break
            command, client.inbox = framed
            self._command(client, command)
        self._notify()

    def _command(self, client: _Client, command: bytes) -> None:
        now = time.monotonic()
        faults = self._faults
        self.received.append(command)
        self._log(client, "received", command)
        if faults.drop is not None and faults.drop_after is None:
            self._drop(client, faults.drop)
            return
        try:
            reply = self._table.reply(command)
        except Exception as exc:
            self.errors.append(exc)
            self._log(client, "error", repr(exc).encode("utf-8", "replace"))
            logger.error("%s: the reply to %r raised %r", self.name, command, exc)
            return
        if faults.silent or reply is None:
            return
        data = faults.garbage + reply + self.reply_terminator
        if faults.late is not None:
            held, client.held = client.held, data
            if held is not None:
                self._schedule(client, held, now + faults.late, faults)
            return
        self._schedule(client, data, now + faults.latency, faults)
        client.replies += 1
        if faults.drop_after is not None and client.replies >= faults.drop_after:
            how = faults.drop or "fin"
            self._later(client.busy_until, lambda: self._close_when_sent(client, how))

    def _schedule(
        self, client: _Client, data: bytes, start: float, faults: Faults
    ) -> None:
        """Send ``data`` from ``start``, after what ``client`` is owed already."""
        when = max(start, client.busy_until)
        size = faults.chunk or len(data) or 1
        for offset in range(0, len(data), size):
            piece = data[offset : offset + size]
            self._later(when, functools.partial(self._write, client, piece))
            if offset + size < len(data):
                when += faults.chunk_delay
        client.busy_until = when

    def _write(self, client: _Client, data: bytes) -> None:
        if not client.open:
            return
        client.outbox += data
        client.active = time.monotonic()
        self._log(client, "sent", data)
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        if not client.open:
            return
        try:
            if client.outbox:
                sent = client.sock.send(client.outbox)
                del client.outbox[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(client, None)
            return
        if client.outbox:
            self._selector.modify(
                client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client
            )
            return
        self._selector.modify(client.sock, selectors.EVENT_READ, client)
        self._notify()
        if client.close_after_flush is not None:
            self._drop(client, client.close_after_flush)

    def _close_when_sent(self, client: _Client, how: str) -> None:
        if client.outbox:
            client.close_after_flush = how
        else:
            self._drop(client, how)

    def _drop(self, client: _Client, how: str | None) -> None:
        """Close ``client``: ``how`` is "fin" or "rst"; None, the client left."""
        if not client.open:
            return
        client.open = False
        self._clients.pop(client.sock, None)
        self._selector.unregister(client.sock)
        if how == "rst":
            try:
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            except OSError:
                pass
        client.sock.close()
        self._log(client, "closed" if how is None else "dropped")
        self._notify()

    def _close_idle(self) -> None:
        idle = self._faults.idle_close
        if idle is None:
            return
        now = time.monotonic()
        for client in list(self._clients.values()):
            if now - client.active >= idle:
                self._drop(client, "fin")

    def _broadcast(self, data: bytes) -> int:
        clients = list(self._clients.values())
        for client in clients:
            self._write(client, data)
        return len(clients)

    def _down(self, how: str) -> None:
        for client in list(self._clients.values()):
            self._drop(client, how)
        if self._listening:
            self._selector.unregister(self._listener)
            self._listener.close()
            # Hold the port, bound but not listening: connecting is refused,
            # and nothing else can take the port before up().
            self._listener = self._bind(*self.address)
            self._listening = False

    def _up(self) -> None:
        if not self._listening:
            self._listener.listen(64)
            self._selector.register(self._listener, selectors.EVENT_READ, "listen")
            self._listening = True

    def _close_all(self) -> None:
        for client in list(self._clients.values()):
            self._drop(client, "fin")
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._timers.clear()
        logger.debug("%s stopped", self.name)


@dataclass(eq=False)
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: Exception | None = None
