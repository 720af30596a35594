"""``FakeDevice``: a scripted TCP device on loopback, in a background thread.

One thread runs a selector over the listening socket, every client and one
end of a socket pair the other threads write to when they need the loop:
to stop, or to carry out ``down()``, ``up()``, ``send()`` and ``inject()``.
Replies, chunks, delays and closes are timers in the same loop, so nothing
ever sleeps and ``stop()`` returns as soon as the loop sees the wake-up.
The thread owns every socket and closes them all when its loop ends, however
it ends (``stop()``, a response that calls ``stop()``, a bug).
"""

from __future__ import annotations

import collections
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable

from socs_tcp.testing.faults import _DROPS, Faults
from socs_tcp.testing.framing import Framer, by_terminator
from socs_tcp.testing.responses import Key, Reply, Responses, ResponseTable, Value
from socs_tcp.testing.script import Script

__all__ = ["Event", "FakeDevice"]

logger = logging.getLogger("socs_tcp.testing")

#: Seconds a control call waits for the device's thread before giving up.
_CONTROL_TIMEOUT = 5.0
_RECV_SIZE = 65536
#: Bytes of each event a transcript shows.
_SHOWN = 64
#: Bytes of each event a transcript keeps (the size is kept in full).
_KEPT = 4096
#: Bytes queued to one client above which ``send()`` waits, as a socket's
#: send buffer makes ``sendall`` wait.
_SEND_BUFFER = 1 << 20
#: Events a transcript keeps by default, and lines a report shows.
HISTORY = 10_000
SHOWN_EVENTS = 40
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
        ``"received"`` (a framed command), ``"sent"`` (bytes queued to the
        client), ``"connected"``, ``"closed"`` (by the client; the device
        closes its side once the replies it owes are sent), ``"dropped"``
        (by the device: a fault, ``down()`` or ``stop()``), or ``"error"``
        (a response callable, the framer or the script failed, or a proxy
        could not reach its device; ``data`` holds the message).
    data : bytes
        The command, without its terminator, or the bytes sent: the first
        4096 bytes of it.
    size : int
        The length of the whole command or of the bytes sent.
    """

    time: float
    client: int
    kind: str
    data: bytes = b""
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.data))

    def __str__(self) -> str:
        arrow = {"received": "<-", "sent": "->"}.get(self.kind, "--")
        text = repr(self.data[:_SHOWN]) if self.data or arrow != "--" else ""
        if self.size > _SHOWN:
            text += f"... ({self.size} bytes)"
        line = f"{self.time:9.4f} s  #{self.client} {arrow} {self.kind:<8} {text}"
        return line.rstrip()


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    number: int
    active: float
    inbox: bytes = b""
    #: Bytes owed, as views of the replies (never copied), oldest first.
    outbox: collections.deque[memoryview] = field(default_factory=collections.deque)
    queued: int = 0
    #: Pieces scheduled as timers and not yet queued.
    owed: int = 0
    #: When the device is free for this client's next command.
    busy_until: float = 0.0
    replies: int = 0
    held: bytes | None = None
    close_after_flush: str | None = None
    #: The client closed its sending side (EOF read).
    eof: bool = False
    events: int = 0
    open: bool = True
    #: What a subclass attaches (the proxy's upstream connection).
    peer: Any = None


class FakeDevice:
    """A TCP device on loopback that speaks a dialogue and misbehaves on request.

    It starts serving when constructed; use it as a context manager, or call
    :meth:`stop`. Any number of clients may connect at once.

    Like an instrument, the device handles one command at a time on each
    connection: a command's reply starts ``latency`` (plus the reply's own
    :class:`Reply` delay) after the device is done with the command before
    it, so five commands sent at once with ``latency=0.2`` are answered
    over one second. A client that sends and then closes its sending side
    still gets every reply it is owed before the device closes its side.

    Parameters
    ----------
    responses : dict, list of pairs, or callable, optional
        What the device answers. Keys are ``bytes`` commands (without their
        terminator) or compiled ``bytes`` regexes (``fullmatch``); values are
        ``bytes``, a :class:`Reply` (a reply with a delay), a list of those
        served in turn (the last repeats), a callable
        ``(command, match) -> bytes | Reply | None`` (``match`` is None for
        a ``bytes`` key), or None for no reply. Or one callable
        ``command -> bytes | None`` for every command, such as a method of a
        stateful device object. Leave it out with ``script``.
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
    script : list of (command, reply), optional
        A strict script instead of ``responses``: the commands must come in
        this order, across all connections; a command out of order or not
        in the script gets no reply and fails :meth:`stop` with a
        :class:`~socs_tcp.testing.ScriptError` naming what came and what
        was expected.
    script_unused : {"error", "ignore"}
        Whether steps of the script never used fail :meth:`stop` (the
        default) or not.
    history : int
        How many events :attr:`transcript` (and commands :attr:`received`)
        keep: the last ones. :attr:`counts` counts them all. Defaults to
        10000.
    greeting : bytes, optional
        Sent to each connection as soon as it is accepted, as devices that
        print a banner or a prompt do. Defaults to nothing.
    **faults
        Faults active from the start; see :class:`Faults` and :meth:`inject`.

    Attributes
    ----------
    address : tuple of (str, int)
        ``(host, port)`` to connect to.
    errors : list of Exception
        Exceptions raised by response callables, the framer or the script;
        :meth:`stop` re-raises the first one.
    counts : collections.Counter
        How many events of each kind happened, ``"received"`` and ``"sent"``
        included, however many the transcript still holds.
    """

    def __init__(
        self,
        responses: Responses | None = None,
        *,
        terminator: bytes | None = b"\n",
        reply_terminator: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        framer: Framer | None = None,
        default: bytes | None = None,
        name: str = "FakeDevice",
        script: Sequence[tuple[Key, Value]] | None = None,
        script_unused: str = "error",
        history: int = HISTORY,
        greeting: bytes = b"",
        **faults: Any,
    ) -> None:
        self._table: ResponseTable | Script
        if script is not None:
            if responses is not None:
                raise TypeError("pass either responses or script, not both")
            if default is not None:
                raise TypeError(
                    "a script has no default reply: a command not in it is an "
                    "error; add the command as a step instead"
                )
            self._table = Script(script, script_unused)
        elif responses is None:
            raise TypeError(
                "FakeDevice needs responses ({b'*IDN?': b'ACME,1'}) or "
                "script=[(b'*IDN?', b'ACME,1'), ...]"
            )
        else:
            self._table = ResponseTable(responses, default)
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be an int >= 1, not {history!r}")
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

        self._received: collections.deque[bytes] = collections.deque(maxlen=history)
        self._transcript: collections.deque[Event] = collections.deque(maxlen=history)
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: list[Exception] = []
        self._connections = 0
        self._clients: dict[socket.socket, _Client] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._changed = threading.Condition()
        self._calls: list[tuple[Callable[[], object], _Call]] = []
        self._calls_lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._stopped = False
        self._finished = False

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

    @property
    def received(self) -> list[bytes]:
        """The commands received (the last ``history`` of them), in order.

        Terminators are stripped. ``counts["received"]`` counts them all.
        """
        return list(self._received)

    @property
    def transcript(self) -> list[Event]:
        """What happened, with times: the last ``history`` events."""
        return list(self._transcript)

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

    def send(self, data: bytes, timeout: float | None = _CONTROL_TIMEOUT) -> int:
        """Push unsolicited bytes to every open connection, as they are.

        Like ``socket.sendall``, it returns once the bytes fit in what the
        device may hold for each client (1 MiB): it waits for a client
        that is not reading. Called from a response callable, it returns
        at once; the bytes go out before that command's reply.

        Parameters
        ----------
        data : bytes
            What to send (no terminator is added).
        timeout : float or None
            Seconds to wait for slow clients at most; None waits as long
            as it takes. Defaults to 5.

        Returns
        -------
        int
            How many connections it went to.

        Raises
        ------
        TimeoutError
            A client still had more than 1 MiB to read after ``timeout``
            (the bytes stay queued to it).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        payload = bytes(data)
        clients = self._call(lambda: self._broadcast(payload))
        assert isinstance(clients, list)
        if threading.current_thread() is self._thread:
            return len(clients)  # from a response: the loop sends once it returns

        def fits() -> bool:
            return self._stopped or all(
                not c.open or c.queued <= _SEND_BUFFER for c in clients
            )

        with self._changed:
            if not self._changed.wait_for(fits, timeout):
                raise TimeoutError(
                    f"{self.name}: a client did not read what send() pushed "
                    f"within {timeout} s"
                )
        return len(clients)

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
        self._wait(
            lambda: self.counts["received"] >= count, timeout, f"{count} commands"
        )
        return self.received

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

    def transcript_text(self, last: int | None = SHOWN_EVENTS) -> str:
        """The transcript, one event per line, for humans.

        Parameters
        ----------
        last : int or None
            Show only the last this many events, after a line counting the
            rest; None shows every event kept. Defaults to 40.

        Returns
        -------
        str
            A title line naming the device, then the events.
        """
        active = self._faults.active()
        title = f"{self.name} on {self.host}:{self.port}"
        if active:
            title += " faults " + ", ".join(f"{k}={v!r}" for k, v in active.items())
        events = self.transcript
        lines = [title]
        total = sum(self.counts.values())
        shown = events if last is None else events[max(0, len(events) - last) :]
        if total > len(shown):
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
            lines.append(
                f"... {total - len(shown)} earlier events not shown "
                f"({total} in all: {counts})"
            )
        lines.extend(str(event) for event in shown)
        return "\n".join(lines)

    def stop(self, check: bool = True) -> None:
        """Stop serving: close every socket and join the thread.

        Calling it again does nothing but the check. Called from a response
        callable, it returns at once and the device stops when the callable
        returns.

        Parameters
        ----------
        check : bool
            Re-raise the first error recorded: an exception a response
            callable or the framer raised (the device did not reply to that
            command), or a :class:`~socs_tcp.testing.ScriptError`. Defaults
            to True.
        """
        self._stopped = True
        if threading.current_thread() is self._thread:
            return  # the loop closes everything once this command is handled
        self._wake()
        self._thread.join(_CONTROL_TIMEOUT)
        if self._thread.is_alive():  # pragma: no cover - a bug, not a state
            raise RuntimeError(f"{self.name}: the device thread did not stop")
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
        return f"<{type(self).__name__} {self.name} {self.host}:{self.port} {state}>"

    # -- control from other threads -------------------------------------

    def _call(self, action: Callable[[], object]) -> object:
        """Run ``action`` in the device's thread and return its result."""
        if threading.current_thread() is self._thread:
            return action()
        call = _Call()
        with self._calls_lock:
            if self._stopped or self._finished:
                raise RuntimeError(f"{self.name} is stopped")
            self._calls.append((action, call))
        self._wake()
        if not call.done.wait(_CONTROL_TIMEOUT):
            raise RuntimeError(f"{self.name}: the device thread did not answer")
        if call.error is not None:
            raise call.error
        return call.result

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w.fileno() < 0:
                return  # the loop has ended
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
                    elif isinstance(key.data, _Client):
                        self._serve(key.data, mask)
                    else:
                        key.data(mask)
                self._run_calls()
                self._run_timers()
                self._close_idle()
        except Exception as exc:  # pragma: no cover - a bug in the device
            logger.exception("%s: the device loop failed", self.name)
            self.errors.append(exc)
            self._stopped = True
        finally:
            self._shutdown()

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
        event = Event(now, client.number, kind, data[:_KEPT], len(data))
        self._transcript.append(event)
        self.counts[kind] += 1
        if data:
            logger.debug("%s #%d %s %r", self.name, client.number, kind, event.data)
        else:
            logger.debug("%s #%d %s", self.name, client.number, kind)

    def _error(self, client: _Client, exc: Exception, what: str) -> None:
        self.errors.append(exc)
        self._log(client, "error", str(exc).encode("utf-8", "replace"))
        logger.error("%s: %s: %s", self.name, what, exc)

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
            self._interest(client)
            self._connected(client)
            if self.greeting:
                self._schedule(client, self.greeting, time.monotonic(), self._faults)
            self._notify()

    def _connected(self, client: _Client) -> None:
        """A client was accepted (a subclass opens what it needs)."""

    def _interest(self, client: _Client) -> None:
        """Watch ``client`` for reading until its EOF, for writing while owed."""
        events = 0 if client.eof else selectors.EVENT_READ
        if client.outbox:
            events |= selectors.EVENT_WRITE
        if events == client.events:
            return
        if not client.events:
            self._selector.register(client.sock, events, client)
        elif not events:
            self._selector.unregister(client.sock)
        else:
            self._selector.modify(client.sock, events, client)
        client.events = events

    def _serve(self, client: _Client, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if not client.open or client.eof or not mask & selectors.EVENT_READ:
            return
        try:
            data = client.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a reset: nothing the device sends can arrive
            self._drop(client, None)
            return
        if not data:
            client.eof = True  # half-closed, maybe: answer what came first
            self._half_closed(client)
            self._interest(client)
            self._close_if_done(client)
            return
        client.active = time.monotonic()
        self._incoming(client, data)
        self._notify()

    def _half_closed(self, client: _Client) -> None:
        """The client sent EOF (a subclass passes it on)."""

    def _incoming(self, client: _Client, data: bytes) -> None:
        """Frame what ``client`` sent and handle each command in turn."""
        client.inbox += data
        while client.open:
            try:
                framed = self._framer(client.inbox)
            except Exception as exc:
                self._error(client, exc, "the framer raised")
                self._drop(client, "fin")  # its stream cannot be framed any more
                return
            if framed is None:
                return
            command, client.inbox = framed
            self._command(client, command)

    def _command(self, client: _Client, command: bytes) -> None:
        now = time.monotonic()
        faults = self._faults
        self._received.append(command)
        self._log(client, "received", command)
        if faults.drop is not None and faults.drop_after is None:
            self._drop(client, faults.drop)
            return
        try:
            answer = self._answer(client, command)
        except Exception as exc:
            self._error(client, exc, f"the reply to {command!r} failed")
            return
        # One command at a time: this one starts when the one before is done.
        start = max(now, client.busy_until) + faults.latency
        if answer is not None:
            start += answer.delay
        if faults.silent or answer is None:
            client.busy_until = start
            return
        self._reply(client, answer.data, start, now, faults)

    def _answer(self, client: _Client, command: bytes) -> Reply | None:
        """What the device answers ``command`` (a subclass forwards it)."""
        return self._table.answer(command)

    def _reply(
        self, client: _Client, reply: bytes, start: float, now: float, faults: Faults
    ) -> None:
        """Send one reply with the faults: garbage, late, chunks, drop_after."""
        data = faults.garbage + reply + self.reply_terminator
        if faults.late is not None:
            held, client.held = client.held, data
            if held is not None:
                self._schedule(client, held, now + faults.late, faults)
            return
        self._schedule(client, data, start, faults)
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
            client.owed += 1
            self._later(when, functools.partial(self._write, client, piece))
            if offset + size < len(data):
                when += faults.chunk_delay
        client.busy_until = when

    def _write(self, client: _Client, data: bytes) -> None:
        client.owed -= 1
        self._queue(client, data)
        self._close_if_done(client)

    def _queue(self, client: _Client, data: bytes) -> None:
        if not client.open:
            return
        if data:
            client.outbox.append(memoryview(data))
            client.queued += len(data)
        client.active = time.monotonic()
        self._log(client, "sent", data)
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        if not client.open:
            return
        before = client.queued
        while client.outbox:
            view = client.outbox[0]
            try:
                sent = client.sock.send(view)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(client, None)
                return
            client.queued -= sent
            if sent < len(view):
                client.outbox[0] = view[sent:]
                break
            client.outbox.popleft()
        self._interest(client)
        if before > _SEND_BUFFER >= client.queued:
            self._notify()  # a send() waiting on this client may go on
        if client.outbox:
            return
        self._notify()
        if client.close_after_flush is not None:
            self._drop(client, client.close_after_flush)
        else:
            self._close_if_done(client)

    def _close_if_done(self, client: _Client) -> None:
        """Close a half-closed client once every reply it is owed is sent."""
        if client.open and self._done(client):
            self._drop(client, None)

    def _done(self, client: _Client) -> bool:
        return client.eof and not client.owed and not client.outbox

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
        # Logged first: wait_clients() may return as soon as it is popped.
        self._log(client, "closed" if how is None else "dropped")
        self._clients.pop(client.sock, None)
        if client.events:
            self._selector.unregister(client.sock)
            client.events = 0
        client.outbox.clear()
        client.queued = 0
        if how == "rst":
            try:
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            except OSError:
                pass
        client.sock.close()
        self._disconnected(client)
        self._notify()

    def _disconnected(self, client: _Client) -> None:
        """A client's connection was closed (a subclass closes its own)."""

    def _close_idle(self) -> None:
        idle = self._faults.idle_close
        if idle is None:
            return
        now = time.monotonic()
        for client in list(self._clients.values()):
            if now - client.active >= idle:
                self._drop(client, "fin")

    def _broadcast(self, data: bytes) -> list[_Client]:
        clients = list(self._clients.values())
        for client in clients:
            self._queue(client, data)
        return clients

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

    def _shutdown(self) -> None:
        """Close everything, in the device's thread, as its loop ends."""
        self._stopped = True
        with self._calls_lock:
            self._finished = True
        self._run_calls()  # answer callers waiting on a stopped device
        for client in list(self._clients.values()):
            try:
                self._drop(client, "fin")
            except Exception:  # pragma: no cover - closing must go on
                logger.exception("%s: closing a client failed", self.name)
        self._timers.clear()
        if isinstance(self._table, Script):
            unused = self._table.left()
            if unused is not None:
                self.errors.append(unused)
        self._selector.close()
        self._listener.close()
        with self._wake_lock:
            self._wake_r.close()
            self._wake_w.close()
        self._notify()
        logger.debug("%s stopped", self.name)


@dataclass(eq=False)
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: Exception | None = None
