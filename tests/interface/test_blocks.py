"""IEEE 488.2 blocks: read by their declared length, whatever bytes they hold.

Both transports, against FakeDevice and raw loopback peers.
"""

import select
import socket
import sys
import threading
import time
import tracemalloc

import pytest

from socs_tcp import FrameTooLong, ProtocolError, TransportTimeout
from socs_tcp.testing import FakeDevice, Reply
from tests.conftest import BOUND, read_exactly

# Terminators, hashes and a header-lookalike inside the data.
DATA = b"\n#\r\n#15x\n\x00\xff#0\n" + bytes(range(256)) + b"\n"
BLOCK = b"#3%03d" % len(DATA) + DATA


def block(data):
    """``data`` as a definite block."""
    size = b"%d" % len(data)
    return b"#%d%s%s" % (len(size), size, data)


def test_a_block_chunked_at_every_byte_is_read_by_its_length(Interface):
    with FakeDevice(
        {b"CURV?": BLOCK, b"*IDN?": b"ACME"}, chunk=1, chunk_delay=0.0005
    ) as device:
        with Interface(*device.address, BOUND) as iface:
            assert iface.query_block(b"CURV?") == DATA
            # The terminator after the block was consumed, nothing else.
            assert iface.pending == 0
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


# A small block with the same traps, for the tests that cut it everywhere.
SMALL = b"\n#\r\n#15x\n\x00\xff#0\r"


@pytest.mark.parametrize("end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_block_split_at_every_position_is_read_whole(Interface, make_peer, end):
    # Header, data and terminator, each cut at every byte: the two pieces
    # come in two reads (no Nagle delay: the peer sends each at once).
    reply = block(SMALL) + end

    def device(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            line = b""
            while not line.endswith(b"\n"):
                chunk = conn.recv(64)
                if not chunk:
                    return
                line += chunk
            cut = int(line)
            conn.sendall(reply[:cut])
            time.sleep(0.002)
            conn.sendall(reply[cut:])

    peer = make_peer(device)
    iface = Interface("127.0.0.1", peer.port, BOUND)
    iface.read_terminator = end
    try:
        for cut in range(1, len(reply)):
            assert iface.query_block(b"%d" % cut, clear=False) == SMALL, cut
            assert iface.pending == 0, cut
    finally:
        iface.close()


def test_recv_block_leaves_what_follows_the_block(Interface, make_peer):
    peer = make_peer(lambda conn: conn.sendall(BLOCK + b"\nnext\n") or conn.recv(1))
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        assert iface.recv_block() == DATA
        assert iface.recv_until() == b"next\n"


def test_trailing_false_leaves_the_terminator(Interface, make_peer):
    peer = make_peer(lambda conn: conn.sendall(block(b"ab") + b"\n") or conn.recv(1))
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        assert iface.recv_block(trailing=False) == b"ab"
        assert iface.recv_until() == b"\n"


def test_a_device_without_terminators_needs_trailing_false(Interface, make_peer):
    peer = make_peer(
        lambda conn: conn.sendall(block(b"ab") + block(b"cd")) or conn.recv(1)
    )
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        # What follows a block is not taken for a terminator.
        assert iface.recv_block() == b"ab"
        assert iface.recv_block(trailing=False) == b"cd"


def test_a_two_byte_terminator_after_a_block_is_consumed_whole(Interface, make_peer):
    def device(conn):
        conn.sendall(block(b"xy") + b"\r")
        time.sleep(0.05)
        conn.sendall(b"\nok\r\n")
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        assert iface.recv_block(terminator=(b"\r\n", b"\n")) == b"xy"
        assert iface.recv_until(b"\r\n") == b"ok\r\n"


def test_an_indefinite_block_ends_at_the_terminator(Interface):
    with FakeDevice({b"DATA?": b"#0abc#1"}) as device:
        with Interface(*device.address, BOUND) as iface:
            assert iface.query_block(b"DATA?") == b"abc#1"


@pytest.mark.parametrize("reply", [b"ERR -113", b"#x12", b"#31a5", b" #15abcde"])
def test_a_header_that_is_not_a_block_raises_and_resynchronises(Interface, reply):
    with FakeDevice({b"CURV?": reply, b"*IDN?": b"ACME"}) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(ProtocolError, match="not an IEEE 488.2 block") as info:
                iface.query_block(b"CURV?")
            assert isinstance(info.value, ConnectionError)
            # The bytes seen are in .partial (as many as had come: the
            # reply's start, at least up to the byte that gave it away), and
            # were not consumed.
            partial = info.value.partial
            first_bad = {b"ERR -113": 1, b"#x12": 2, b"#31a5": 4, b" #15abcde": 1}
            assert (reply + b"\n").startswith(partial)
            assert len(partial) >= first_bad[reply]
            assert iface.pending == len(partial)
            assert repr(partial[:16]) in str(info.value)
            # Out of sync: the next query resynchronises and gets its reply.
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


def test_a_bad_header_raises_at_the_byte_that_gives_it_away(Interface, make_peer):
    def device(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"#")
        time.sleep(0.1)
        conn.sendall(b"2")
        time.sleep(0.1)
        conn.sendall(b"1x")  # then silence
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        start = time.monotonic()
        with pytest.raises(ProtocolError) as info:
            iface.recv_block()
        # At once, not at the timeout, and with exactly what came.
        assert time.monotonic() - start < 2
        assert info.value.partial == b"#21x"
        assert iface.recv_exactly(4, timeout=0) == b"#21x"


def test_recv_block_with_a_bad_header_counts_as_out_of_sync(Interface):
    with FakeDevice({b"CURV?": b"garbage", b"*IDN?": b"ACME"}) as device:
        with Interface(*device.address, BOUND) as iface:
            iface.send(b"CURV?\n")
            with pytest.raises(ProtocolError) as info:
                iface.recv_block()
            assert info.value.partial.startswith(b"g")
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


def test_a_block_that_times_out_keeps_every_byte_for_a_retry(Interface, make_peer):
    cut = len(BLOCK) // 2
    go = threading.Event()

    def device(conn):
        conn.sendall(BLOCK[:cut])
        go.wait(BOUND)
        conn.sendall(BLOCK[cut:] + b"\n")
        conn.recv(1)

    peer = make_peer(device)
    iface = Interface("127.0.0.1", peer.port, BOUND)
    try:
        start = time.monotonic()
        with pytest.raises(TransportTimeout) as info:
            iface.recv_block(timeout=0.2)
        assert 0.15 < time.monotonic() - start < 2
        assert info.value.partial == BLOCK[:cut]
        assert iface.pending == cut
        go.set()
        assert iface.recv_block() == DATA
    finally:
        go.set()
        iface.close()


def test_a_late_block_is_never_taken_for_the_next_reply(Interface):
    # The late block's first piece ends in a b"\n" of its data when the next
    # query starts: that does not make it a whole reply to discard.
    responses = {b"CURV?": Reply(BLOCK, delay=0.2), b"*IDN?": b"ACME"}
    with FakeDevice(responses, chunk=6, chunk_delay=0.5) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(TransportTimeout):
                iface.query_block(b"CURV?", timeout=0.1)
            assert select.select([iface.comm], [], [], BOUND)[0]
            assert iface.query(b"*IDN?") == b"ACME"


def test_the_timeout_bounds_header_data_and_terminator_together(Interface, make_peer):
    def device(conn):
        for piece in (b"#", b"3", b"005", b"abcde", b"\n"):
            conn.sendall(piece)
            time.sleep(0.08)
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        start = time.monotonic()
        with pytest.raises(TransportTimeout):
            iface.recv_block(timeout=0.2)  # each piece alone is in time
        assert time.monotonic() - start < 0.35


def test_a_block_longer_than_max_size_is_refused_before_its_data(Interface):
    with FakeDevice({b"CURV?": block(b"x" * 100)}) as device:
        with Interface(*device.address, BOUND) as iface:
            iface.send(b"CURV?\n")
            with pytest.raises(FrameTooLong, match="100 bytes"):
                iface.recv_block(max_size=99)
            assert iface.recv_block(max_size=100) == b"x" * 100


def test_recv_block_into_fills_a_buffer_and_refuses_one_too_small(Interface):
    with FakeDevice({b"CURV?": BLOCK}) as device:
        with Interface(*device.address, BOUND) as iface:
            iface.send(b"CURV?\n")
            small = bytearray(len(DATA) - 1)
            with pytest.raises(FrameTooLong, match="the buffer"):
                iface.recv_block_into(small)
            buffer = bytearray(len(DATA) + 10)
            assert iface.recv_block_into(buffer) == len(DATA)
            assert buffer[: len(DATA)] == DATA
            assert iface.pending == 0


def test_a_block_cut_short_inside_a_buffer_keeps_its_bytes_in_partial(
    Interface, make_peer
):
    def device(conn):
        read_exactly(conn, 6)
        conn.sendall(BLOCK[:20])
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        buffer = bytearray(len(DATA))
        iface.send(b"CURV?\n")
        with pytest.raises(TransportTimeout) as info:
            iface.recv_block_into(buffer, timeout=0.2)
        assert info.value.partial == DATA[:15]
        assert buffer[:15] == DATA[:15]


@pytest.mark.parametrize("into", [False, True], ids=["bytes", "into"])
def test_a_block_timeout_is_one_failure_naming_the_calls_timeout(
    Interface, make_peer, into
):
    # Header, part of the data, then nothing: every step of the read had
    # only what was left of the call's 0.2 s.
    peer = make_peer(lambda conn: conn.sendall(BLOCK[:20]) or conn.recv(1))
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        buffer = bytearray(len(DATA))
        with pytest.raises(TransportTimeout, match=r"within 0\.2 s"):
            if into:
                iface.recv_block_into(buffer, timeout=0.2)
            else:
                iface.recv_block(timeout=0.2)
        health = iface.health
        assert health.timeouts == 1 and health.failures == 1


# -- NumPy --------------------------------------------------------------------

import numpy as np  # noqa: E402 -- a test dependency (the test extra)

BIG = 64 << 20  # bytes


@pytest.fixture
def big_device(make_peer):
    """Answers each line with a 64 MiB block of little-endian uint32 counts."""
    payload = np.arange(BIG // 4, dtype="<u4").tobytes()
    reply = block(payload) + b"\n"

    def device(conn):
        while read_exactly(conn, 6):
            conn.sendall(reply)

    return make_peer(device), payload


def _peak(call):
    """``call()`` and the most memory Python allocated during it."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_64_mib_block_goes_straight_into_a_numpy_array(Interface, big_device):
    peer, payload = big_device
    with Interface("127.0.0.1", peer.port, 30) as iface:
        array = np.zeros(BIG // 4, dtype="<u4")
        iface.send(b"CURV?\n")
        count, peak = _peak(lambda: iface.recv_block_into(array))
        assert count == BIG
        assert array[-1] == BIG // 4 - 1 and array.tobytes() == payload
        # No copy of the data: nothing near its size was allocated.
        assert peak < BIG // 8


def test_query_block_with_a_dtype_makes_one_array_and_no_copy(Interface, big_device):
    peer, payload = big_device
    with Interface("127.0.0.1", peer.port, 30) as iface:
        array, peak = _peak(lambda: iface.query_block(b"CURV?", dtype="<u4"))
        assert array.dtype == np.dtype("<u4") and array.shape == (BIG // 4,)
        assert array.tobytes() == payload
        del array
        # The array itself, and no second copy of the data.
        assert BIG <= peak < BIG + BIG // 8
        big_endian = iface.query_block(b"CURV?", dtype=">u4")
        assert big_endian.dtype == np.dtype(">u4")
        assert big_endian[1] == 1 << 24  # the bytes as given, read big-endian


def test_a_block_that_is_not_whole_items_raises(Interface):
    with FakeDevice({b"CURV?": block(b"abc"), b"*IDN?": b"ACME"}) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(ProtocolError, match="whole number"):
                iface.query_block(b"CURV?", dtype="<u2")
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


@pytest.mark.parametrize(
    "dtype, error, match",
    [
        ("O", TypeError, "Python objects"),
        ([("t", "<f8"), ("label", "O")], TypeError, "Python objects"),
        ("S", ValueError, "no size"),
        ("U", ValueError, "no size"),
    ],
)
def test_a_dtype_a_block_cannot_fill_is_refused_before_sending(
    Interface, dtype, error, match
):
    with FakeDevice({b"CURV?": block(b"x" * 16)}) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(error, match=match):
                iface.query_block(b"CURV?", dtype=dtype)
            assert iface.query_block(b"CURV?", dtype="S8").tolist() == [b"x" * 8] * 2
            assert device.received == [b"CURV?"]  # the refused call sent nothing


@pytest.mark.parametrize("dtype, shape", [("<f4", (0,)), ("(2,)u1", (0, 2))])
def test_an_empty_block_is_an_empty_array(Interface, dtype, shape):
    with FakeDevice({b"CURV?": b"#10", b"*IDN?": b"ACME"}) as device:
        with Interface(*device.address, BOUND) as iface:
            array = iface.query_block(b"CURV?", dtype=dtype)
            assert array.shape == shape and array.dtype == np.dtype(dtype).base
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


def test_a_sub_array_dtype_gives_rows(Interface):
    # Pairs of (x, y) int16, big-endian; and the same as an indefinite block.
    data = np.array([[1, -2], [3, -4]], dtype=">i2").tobytes()
    responses = {b"XY?": block(data), b"XY0?": b"#0" + data}
    with FakeDevice(responses) as device:
        with Interface(*device.address, BOUND) as iface:
            for command in (b"XY?", b"XY0?"):
                rows = iface.query_block(command, dtype="(2,)>i2")
                assert rows.tolist() == [[1, -2], [3, -4]], command


def test_a_dtype_without_numpy_says_what_to_install(Interface, monkeypatch):
    with FakeDevice({b"CURV?": BLOCK}) as device:
        with Interface(*device.address, BOUND) as iface:
            monkeypatch.setitem(sys.modules, "numpy", None)
            with pytest.raises(ImportError, match="pip install numpy"):
                iface.query_block(b"CURV?", dtype="<f4")
            assert device.received == []  # nothing was sent
