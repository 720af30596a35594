"""A zero timeout reads what has arrived, on every receive method (both transports).

The record is split: 4 bytes already buffered by the transport, 12 still in
the socket. A call with ``timeout=0`` makes its one read without waiting and
returns the whole record, whichever method asks for it.
"""

import socket
import threading
import time

import pytest

from socs_tcp.errors import TransportTimeout
from tests.conftest import BOUND

HEAD = b"#900"  # buffered by the transport
TAIL = b"0000012abcd\n"  # waiting in the socket
RECORD = HEAD + TAIL  # 16 bytes: a block header "#9000000012", then a line's end


def _arrived(client, n):
    """Wait until the kernel holds ``n`` bytes for ``client`` (peeked, not read)."""
    give_up = time.monotonic() + BOUND
    while len(client.recv(64, socket.MSG_PEEK)) < n:
        assert time.monotonic() < give_up, "the peer's bytes never arrived"
        time.sleep(0.001)


@pytest.fixture
def split(pair):
    """The transport with HEAD buffered and TAIL waiting in its socket."""
    transport, client, server = pair
    server.sendall(HEAD)
    assert transport.fill(len(HEAD), BOUND) == len(HEAD)
    server.sendall(TAIL)
    _arrived(client, len(TAIL))
    assert transport.pending == len(HEAD)
    return transport


def _exactly_into(transport):
    buffer = bytearray(len(RECORD))
    assert transport.recv_exactly_into(memoryview(buffer), len(RECORD), 0) == 16
    return bytes(buffer)


READS = {
    "recv_exactly": lambda t: t.recv_exactly(len(RECORD), 0),
    "recv_exactly_into": _exactly_into,
    "recv_until": lambda t: t.recv_until((b"\n",), 0, 100),
    "fill": lambda t: t.peek(0, t.fill(len(RECORD), 0)),
}


@pytest.mark.parametrize("read", list(READS))
def test_a_zero_timeout_completes_a_record_from_what_has_arrived(split, read):
    assert READS[read](split) == RECORD


def test_a_zero_timeout_completes_a_block_header(split):
    assert split.recv_block_header(0) == (11, 12)


@pytest.mark.parametrize("method", ["recv", "recv_into"])
def test_a_zero_timeout_returns_the_buffered_bytes_then_the_socket_s(split, method):
    if method == "recv":
        parts = [split.recv(64, 0), split.recv(64, 0)]
    else:
        parts = []
        for _ in range(2):
            buffer = bytearray(64)
            parts.append(bytes(buffer[: split.recv_into(memoryview(buffer), 64, 0)]))
    assert parts == [HEAD, TAIL]
    with pytest.raises(TransportTimeout):
        split.recv(64, 0)  # nothing more has arrived


def test_a_zero_timeout_clear_discards_both_parts(split):
    assert split.clear(80, 0.0, 0) == (len(RECORD), RECORD)
    assert split.pending == 0


def _front_exactly_into(iface):
    buffer = bytearray(len(RECORD))
    assert iface.recv_exactly_into(buffer, 0, 0) == len(RECORD)  # as reported
    return bytes(buffer)


FRONT_READS = {
    "recv_exactly_into": _front_exactly_into,
    "recv_exactly": lambda iface: iface.recv_exactly(len(RECORD), timeout=0),
    "recv_until": lambda iface: iface.recv_until(timeout=0),
}


@pytest.mark.parametrize("read", list(FRONT_READS))
def test_the_front_s_receives_with_zero_timeout(Interface, make_peer, read):
    buffered, done = threading.Event(), threading.Event()

    def serve(conn):
        conn.sendall(HEAD)
        buffered.wait(BOUND)
        conn.sendall(TAIL)
        done.wait(BOUND)  # hold the connection until the client is done

    peer = make_peer(serve)
    iface = Interface("127.0.0.1", peer.port, BOUND)
    try:
        with pytest.raises(TransportTimeout):
            iface.recv_exactly(len(RECORD), timeout=0.05)  # HEAD stays buffered
        buffered.set()
        _arrived(iface.comm, len(TAIL))
        assert FRONT_READS[read](iface) == RECORD
        assert iface.health.reconnects == 0
    finally:
        done.set()
        iface.close()
