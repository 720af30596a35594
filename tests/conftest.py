"""Shared fixtures: both backends, and real loopback peers that stop themselves.

Every transport test takes the ``backend`` fixture (ids ``py`` and ``cy``), so
it runs once per available transport. The compiled one is left out only where
it was not built; ``test_backend.py`` fails in that case unless
``SOCS_TCP_NO_EXTENSIONS=1`` says the fallback is intended.
"""

import importlib
import importlib.util
import logging
import os
import select
import socket
import struct
import threading

import pytest

from socs_tcp import _backend

#: Seconds any single wait in a test may take before the test is broken.
BOUND = 5.0

BACKENDS = ["python"] + (
    ["cython"] if importlib.util.find_spec("socs_tcp._transport_c") else []
)
IDS = {"python": "py", "cython": "cy"}


def import_socs():
    """The ``socs`` package with ``socs.tcp``, or skip the calling module.

    The suite runs without socs (``pip install --no-deps socs`` adds it);
    ``SOCS_TCP_REQUIRE_SOCS=1``, as CI sets, makes its absence an error
    instead, so the side-by-side tests can never be skipped unnoticed.
    """
    if os.environ.get("SOCS_TCP_REQUIRE_SOCS", "") not in ("", "0"):
        importlib.import_module("socs.tcp")
    else:
        pytest.importorskip("socs.tcp", reason="socs is not installed")
    return importlib.import_module("socs")


@pytest.fixture(params=BACKENDS, ids=[IDS[b] for b in BACKENDS])
def backend(request):
    """The transport module under test."""
    return _backend.load(request.param)


@pytest.fixture
def Interface(backend):
    """``TCPInterface`` bound to the backend under test."""
    return _backend.interface_on(backend.Transport.backend)


class Peer:
    """A raw loopback TCP server running ``handler(conn)`` for each connection.

    For byte-level tests that act on the server's socket itself (half-close,
    reset at a chosen byte, accept order); a scripted device is a
    ``socs_tcp.testing.FakeDevice``.

    Each accepted socket has a ``BOUND`` timeout, so a handler blocked on a
    client that never writes gives up by itself. ``close()`` stops the
    listener, closes every connection and joins every thread.

    Parameters
    ----------
    handler : callable or None
        Called with each accepted socket in its own thread; None just holds
        the connections open (they are in ``connections``).
    host : str
        ``"127.0.0.1"`` or ``"::1"``.
    """

    def __init__(self, handler=None, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.connections = []
        self.accepted = threading.Event()
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(BOUND)
            self.connections.append(conn)
            self.accepted.set()
            if self.handler is not None:
                thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass  # the client went away, or close() closed the socket
        except Exception as exc:  # reported by close()
            self.errors.append(exc)

    def wait_connection(self, index=0):
        """The ``index``-th accepted socket, waiting up to ``BOUND``."""
        for _ in range(int(BOUND / 0.01)):
            if len(self.connections) > index:
                return self.connections[index]
            self._stop.wait(0.01)
        raise AssertionError(f"no connection number {index} within {BOUND} s")

    def close(self):
        self._stop.set()
        self.listener.close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in self._threads:
            thread.join(BOUND)
            assert not thread.is_alive(), "a peer thread did not stop"
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def make_peer():
    """Factory for :class:`Peer`; every peer is closed after the test."""
    peers = []

    def make(handler=None, host="127.0.0.1"):
        peer = Peer(handler, host)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def dormant():
    """A bound loopback socket: connections are refused until ``.listen()``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(BOUND)
    yield sock
    sock.close()


def port_of(sock):
    """The port a socket is bound to."""
    return sock.getsockname()[1]


def wait_readable(sock):
    """Block (bounded) until ``sock`` is readable: data, EOF or a reset."""
    assert select.select([sock], [], [], BOUND)[0], "nothing arrived in time"


def read_exactly(conn, n):
    """Read ``n`` bytes from a peer-side socket (it has a ``BOUND`` timeout)."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def abort(conn):
    """Close ``conn`` with a reset (RST) instead of an orderly FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def echo(conn):
    """Handler: send back whatever arrives, until EOF."""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


@pytest.fixture
def pair(backend, make_peer):
    """``(transport, client_socket, server_socket)`` on loopback.

    The client socket has a ``BOUND`` timeout, as ``TCPInterface`` leaves
    ``comm``; the transport under test is bound to it.
    """
    peer = make_peer()
    client = socket.create_connection(("127.0.0.1", peer.port), timeout=BOUND)
    server = peer.wait_connection()
    yield backend.Transport(client), client, server
    client.close()


@pytest.fixture
def traffic_trace(caplog):
    """The traffic trace switched on (and its DEBUG lines captured), then off."""
    from socs_tcp import _trace

    _trace.trace_traffic(True)
    caplog.set_level(logging.DEBUG, logger="socs_tcp.traffic")
    yield caplog
    _trace.trace_traffic(False)
