"""``Proxy``: a real device behind a fake device's faults, recorded as a dialogue.

A :class:`~socs_tcp.testing.FakeDevice` whose answers come from a real
device: each client gets a connection of its own to the device, commands are
forwarded unchanged as they are framed, and each reply the device sends is
passed back through the same fault machinery as a fake device's reply
(latency, chunks, drops, garbage, late replies). What was said can be saved
as a dialogue file that :func:`~socs_tcp.testing.load_dialogue` and
``python -m socs_tcp emulate`` replay.
"""

from __future__ import annotations

import functools
import logging
import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socs_tcp.cli._args import format_address
from socs_tcp.testing.device import _RECV_SIZE, HISTORY, FakeDevice, _Client
from socs_tcp.testing.framing import by_terminator
from socs_tcp.testing.recording import Recording
from socs_tcp.testing.responses import Reply

__all__ = ["Proxy"]

logger = logging.getLogger("socs_tcp.testing")

#: Seconds to connect to the device, and that a command may wait to go out.
#: The proxy's thread waits that long, so it stays well under the time
#: ``stop()`` and the control calls wait for that thread.
CONNECT_TIMEOUT = 2.0
_MOST = 4.0


@dataclass(eq=False)
class _Upstream:
    """One client's connection to the real device."""

    sock: socket.socket
    #: Bytes from the device not yet framed as a reply.
    inbox: bytes = b""
    #: Where the frames of the reply to the last command forwarded go.
    frames: list[bytes] = field(default_factory=list)


class Proxy(FakeDevice):
    """Forward clients to a real device, with faults, and record what it said.

    It listens as soon as it is made, like :class:`FakeDevice`; use it as a
    context manager, or call :meth:`stop`. Each client that connects gets
    its own connection to ``target``. A reply is taken to be the answer to
    the last command forwarded on that connection before it came, as for a
    driver that waits for each reply; a reply is framed by
    ``reply_terminator`` before the faults apply to it.

    Parameters
    ----------
    target : tuple of (str, int)
        ``(host, port)`` of the real device.
    record : str or pathlib.Path, optional
        Write what was said to this dialogue file when the proxy stops.
    terminator : bytes
        What ends each command. Defaults to ``b"\\n"``.
    reply_terminator : bytes, optional
        What ends each reply, if not ``terminator``.
    host, port : str, int
        Where to listen; port 0 (default) picks a free one.
    name : str, optional
        A name for logs, the transcript and the recorded dialogue.
    connect_timeout : float
        Seconds to connect to the device (at most 4; the proxy's thread
        waits meanwhile); a client whose connection cannot be made is
        reset. The device's name is looked up once, here. Defaults to 2.
    history : int
        Events the transcript keeps, as for :class:`FakeDevice`.
    **faults
        Faults applied to the forwarded traffic; see
        :class:`~socs_tcp.testing.Faults`. ``drop`` (without
        ``drop_after``) closes the client instead of forwarding a command,
        ``silent`` forwards commands and holds back every reply.

    Attributes
    ----------
    target : tuple of (str, int)
        The real device.
    record : pathlib.Path or None
        Where the dialogue is written at :meth:`stop`.
    recording : Recording
        What was said so far; ``recording.text()`` is the dialogue.
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        record: str | Path | None = None,
        terminator: bytes = b"\n",
        reply_terminator: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        history: int = HISTORY,
        **faults: Any,
    ) -> None:
        if (
            not isinstance(target, tuple)
            or len(target) != 2
            or not isinstance(target[0], str)
            or not isinstance(target[1], int)
        ):
            raise TypeError(
                f"target must be (host, port), such as ('192.168.1.20', 5025), "
                f"not {target!r}"
            )
        if not isinstance(terminator, bytes) or not terminator:
            raise TypeError(
                f"a proxy frames commands by a terminator: pass non-empty bytes "
                f"such as b'\\r\\n', not {terminator!r}"
            )
        if isinstance(connect_timeout, bool) or not (
            isinstance(connect_timeout, (int, float)) and 0 < connect_timeout <= _MOST
        ):
            raise ValueError(
                f"connect_timeout must be seconds above 0 and at most {_MOST:g}, "
                f"not {connect_timeout!r}"
            )
        label = format_address(*target)
        try:
            found = socket.getaddrinfo(*target, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(exc.errno, f"cannot find {label}: {exc.strerror}") from None
        self.target = target
        address = found[0][4]  # numeric: no name lookup per client
        self._sockaddr = (str(address[0]), int(address[1]))
        self.record = None if record is None else Path(record)
        self._connect_timeout = connect_timeout
        ends = terminator if reply_terminator is None else reply_terminator
        self._reply_framer = by_terminator(ends)
        self.recording = Recording(
            f"recorded from {label}", name or f"{label} (recorded)", terminator, ends
        )
        name = name or f"proxy to {label}"
        self._saved = False
        super().__init__(
            _unused,
            terminator=terminator,
            reply_terminator=ends,
            host=host,
            port=port,
            name=name,
            history=history,
            **faults,
        )

    def stop(self, check: bool = True) -> None:
        """Stop serving, close every connection; write :attr:`record` once.

        Parameters
        ----------
        check : bool
            Re-raise the first error recorded, as :meth:`FakeDevice.stop`.
        """
        try:
            super().stop(check)
        finally:
            if self.record is not None and not self._saved and not self.running:
                self._saved = True
                self.recording.save(self.record)
                logger.debug("%s: recorded %s", self.name, self.record)

    close = stop

    # -- FakeDevice's hooks, in the device's thread -----------------------

    def _connected(self, client: _Client) -> None:
        label = format_address(*self.target)
        try:
            sock = socket.create_connection(self._sockaddr, self._connect_timeout)
        except OSError as exc:
            message = f"cannot connect to {label}: {exc}"
            self._log(client, "error", message.encode())
            logger.warning("%s: %s", self.name, message)
            self._drop(client, "rst")  # as near to refused as an accepted one gets
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.peer = _Upstream(sock)
        reader = functools.partial(self._from_device, client)
        self._selector.register(sock, selectors.EVENT_READ, reader)

    def _answer(self, client: _Client, command: bytes) -> Reply | None:
        upstream: _Upstream | None = client.peer
        if upstream is None:  # the device closed its side
            return None
        upstream.frames = self.recording.command(command)
        assert self.terminator is not None
        try:
            upstream.sock.sendall(command + self.terminator)
        except OSError as exc:
            self._log(client, "error", f"forwarding failed: {exc}".encode())
            self._drop(client, "rst")
        return None  # the reply comes when the device sends it

    def _half_closed(self, client: _Client) -> None:
        upstream: _Upstream | None = client.peer
        if upstream is not None:
            try:
                upstream.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _done(self, client: _Client) -> bool:
        # A half-closed client waits for what the device still sends.
        return client.peer is None and super()._done(client)

    def _disconnected(self, client: _Client) -> None:
        self._close_upstream(client)

    # -- the device's side --------------------------------------------------

    def _from_device(self, client: _Client, mask: int) -> None:
        upstream: _Upstream = client.peer
        try:
            data = upstream.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return
        except OSError:  # the device reset the connection: so does the proxy
            self._drop(client, "rst")
            return
        if not data:
            self._device_closed(client)
            return
        upstream.inbox += data
        while True:
            framed = self._reply_framer(upstream.inbox)
            if framed is None:
                return
            reply, upstream.inbox = framed
            upstream.frames.append(reply)
            self._relay(client, reply)

    def _relay(self, client: _Client, reply: bytes) -> None:
        """Pass one reply of the device on to ``client``, with the faults."""
        now = time.monotonic()
        faults = self._faults
        if faults.silent:
            return
        self._reply(client, reply, now + faults.latency, now, faults)
        self._notify()

    def _device_closed(self, client: _Client) -> None:
        """The device closed its side: pass the rest on, then close the client."""
        upstream: _Upstream = client.peer
        rest = upstream.inbox
        self._close_upstream(client)
        faults = self._faults
        if rest:
            upstream.frames.append(rest)
            start = time.monotonic() + faults.latency
            self._schedule(client, faults.garbage + rest, start, faults)
        self._later(client.busy_until, lambda: self._close_when_sent(client, "fin"))

    def _close_upstream(self, client: _Client) -> None:
        upstream: _Upstream | None = client.peer
        if upstream is None:
            return
        client.peer = None
        self._selector.unregister(upstream.sock)
        upstream.sock.close()


def _unused(command: bytes) -> None:
    """The responses of a proxy: never asked, the device answers."""
