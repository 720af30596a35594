"""Beyond socs: terminator and exact reads, recv_into, query, clear.

Both backends; real loopback peers. The hypothesis properties check that any
split of the incoming bytes yields the same frames and loses nothing.
"""

import contextlib
import logging
import socket
import threading
import time
from array import array

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from socs_tcp import FrameTooLong, IncompleteRead, TransportTimeout
from socs_tcp.testing import FakeDevice
from tests.conftest import BOUND, wait_readable


@pytest.fixture
def device(Interface, make_peer):
    """``(interface, peer_socket)``: an interface connected to a silent peer."""
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, 1.0)
    yield iface, peer.wait_connection()
    iface.close()


# -- recv_until --------------------------------------------------------------


def test_recv_until_returns_frames_with_terminator_and_buffers_the_rest(device):
    iface, peer = device
    peer.sendall(b"first\nsecond\nthi")
    assert iface.recv_until() == b"first\n"
    assert iface.recv_until() == b"second\n"
    assert iface.pending == 3
    peer.sendall(b"rd\n")
    assert iface.recv_until() == b"third\n"


def test_subclass_sets_its_terminators_once(Interface, make_peer):
    class Gauge(Interface):
        read_terminator = b"\r\n"
        write_terminator = b"\r"

    peer = make_peer()
    gauge = Gauge("127.0.0.1", peer.port, 1.0)
    conn = peer.wait_connection()
    conn.sendall(b"a\nb\r\n")
    assert gauge.recv_until() == b"a\nb\r\n"
    conn.sendall(b"7.5E-3\r\n")
    gauge.send(b"x")
    assert conn.recv(10) == b"x"
    assert gauge.recv_until() == b"7.5E-3\r\n"
    gauge.close()


def test_first_completed_terminator_wins(device):
    iface, peer = device
    peer.sendall(b"one\r\ntwo\nthree;")
    terms = (b"\r\n", b"\n", b";")
    assert iface.recv_until(terms) == b"one\r\n"  # tie on "\n": longer wins
    assert iface.recv_until(terms) == b"two\n"
    assert iface.recv_until(terms) == b"three;"


def test_recv_until_timeout_loses_nothing(device):
    iface, peer = device
    peer.sendall(b"12.3")
    with pytest.raises(TransportTimeout) as info:
        iface.recv_until(timeout=0.2)
    assert isinstance(info.value, ConnectionError)
    assert info.value.partial == b"12.3"
    assert iface.pending == 4
    peer.sendall(b"4\n")
    assert iface.recv_until() == b"12.34\n"


def test_frame_too_long_keeps_the_bytes_and_says_how_to_go_on(device):
    iface, peer = device
    peer.sendall(b"0123456789abcdef\n")
    with pytest.raises(FrameTooLong, match="recv_exactly") as info:
        iface.recv_until(max_size=8)
    assert isinstance(info.value, ConnectionError)
    assert info.value.partial == b"01234567"
    assert iface.recv_exactly(8) == b"01234567"
    assert iface.recv_until(max_size=9) == b"89abcdef\n"


def test_frame_of_exactly_max_size_is_accepted(device):
    iface, peer = device
    peer.sendall(b"1234567\n")
    assert iface.recv_until(max_size=8) == b"1234567\n"


def test_eof_mid_frame_raises_incomplete_read_with_partial(device):
    iface, peer = device
    peer.sendall(b"trunc")
    peer.close()
    with pytest.raises(IncompleteRead) as info:
        iface.recv_until()
    assert isinstance(info.value, ConnectionError)
    assert info.value.partial == b"trunc"
    assert iface.recv() == b"trunc"


def test_reset_on_error_drops_the_buffer_and_reconnects(Interface, make_peer):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, 1.0)
    first = peer.wait_connection()
    first.sendall(b"partial frame")
    with pytest.raises(TransportTimeout):
        iface.recv_until(timeout=0.2, reset_on_error=True)
    assert iface.pending == 0
    assert peer.wait_connection(1) is not None  # a new connection was made
    second = peer.connections[1]
    second.sendall(b"fresh\n")
    assert iface.recv_until() == b"fresh\n"
    iface.close()


# -- recv_exactly and recv_into ----------------------------------------------


def test_recv_exactly_reads_fixed_length_binary_replies(device):
    iface, peer = device
    peer.sendall(b"\x02\x00\x05" + b"hello" + b"\x03")
    header = iface.recv_exactly(3)
    body = iface.recv_exactly(header[2])
    assert (body, iface.recv_exactly(1)) == (b"hello", b"\x03")
    assert iface.recv_exactly(0) == b""


def test_recv_exactly_across_a_slow_peer(device):
    iface, peer = device

    def feed():
        for part in (b"ab", b"cd", b"ef"):
            time.sleep(0.05)
            peer.sendall(part)

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert iface.recv_exactly(6) == b"abcdef"
    feeder.join(BOUND)


def test_recv_into_a_reused_buffer(device):
    iface, peer = device
    samples = array("f", [0.0] * 4)
    peer.sendall(array("f", [1.0, 2.0, 3.0, 4.0]).tobytes())
    got = 0
    view = memoryview(samples).cast("B")
    while got < 16:
        got += iface.recv_into(view[got:])
    assert list(samples) == [1.0, 2.0, 3.0, 4.0]


def test_recv_into_honours_nbytes_and_returns_zero_at_eof(device):
    iface, peer = device
    target = bytearray(10)
    peer.sendall(b"abcdef")
    assert iface.recv_into(target, 3) == 3
    assert target[:3] == b"abc"
    peer.close()
    assert iface.recv_into(target, 10) == 3
    assert iface.recv_into(target) == 0


# -- clear and query -----------------------------------------------------------


def test_clear_discards_buffered_and_pending_input(device, caplog):
    iface, peer = device
    peer.sendall(b"old reply\nand more")
    assert iface.recv_until() == b"old reply\n"
    peer.sendall(b" still")
    time.sleep(0.05)
    with caplog.at_level(logging.INFO, logger="socs_tcp"):
        assert iface.clear() == len(b"and more still")
    assert iface.pending == 0
    assert "14 stale bytes: b'and more still'" in caplog.records[-1].getMessage()


def test_clear_with_quiet_waits_for_the_line_to_go_silent(device):
    iface, peer = device

    def chatter():
        for _ in range(4):
            peer.sendall(b"noise;")
            time.sleep(0.05)

    talker = threading.Thread(target=chatter)
    talker.start()
    time.sleep(0.01)
    assert iface.clear(quiet=0.3) == len(b"noise;" * 4)
    talker.join(BOUND)


def test_clear_gives_up_on_a_device_that_never_pauses(device):
    # A firehose never goes quiet: clear() ends at its timeout, counting
    # what it dropped without keeping it.
    iface, peer = device
    stop = threading.Event()

    def firehose():
        with contextlib.suppress(OSError):
            while not stop.is_set():
                peer.sendall(b"x" * 4096)

    talker = threading.Thread(target=firehose)
    talker.start()
    try:
        start = time.monotonic()
        count = iface.clear(quiet=0.2, timeout=0.5)
        took = time.monotonic() - start
    finally:
        stop.set()
        iface.close()
        talker.join(BOUND)
    assert 0.4 < took < 2.0
    assert count > 4096


def upper(command):
    """A device that answers each line with the line upper-cased."""
    return command.upper()


def test_query_appends_write_terminator_and_strips_the_reply(Interface):
    with FakeDevice(upper) as dev, Interface(*dev.address, 1.0) as iface:
        assert iface.query(b"*idn?") == b"*IDN?"
        assert dev.received == [b"*idn?"]


def test_query_strips_the_longest_matching_terminator(Interface):
    crlf = FakeDevice(upper, reply_terminator=b"\r\n")
    with crlf as dev, Interface(*dev.address, 1.0) as iface:
        assert iface.query(b"volt?", terminator=(b"\n", b"\r\n")) == b"VOLT?"


def test_query_after_a_timed_out_query_never_returns_the_stale_reply(Interface):
    with FakeDevice(upper, latency=0.4) as dev, Interface(*dev.address, 1.0) as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"first", timeout=0.1)
        dev.inject()
        dev.wait_idle()  # the late reply to "first" is now waiting
        assert iface.query(b"second") == b"SECOND"


def test_concurrent_queries_never_interleave(Interface):
    mismatches = []

    def worker(iface, name):
        for i in range(50):
            msg = f"{name}-{i}".encode()
            if iface.query(msg) != msg.upper():
                mismatches.append(msg)

    with FakeDevice(upper) as dev, Interface(*dev.address, 2.0) as iface:
        threads = [
            threading.Thread(target=worker, args=(iface, f"t{n}")) for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND * 4)
        assert not any(thread.is_alive() for thread in threads)
    assert mismatches == []
    assert len(dev.received) == 200


def test_query_reconnects_like_send(Interface):
    with FakeDevice(upper) as dev:
        iface = Interface(*dev.address, 1.0)
        iface.close()
        assert iface.query(b"again") == b"AGAIN"
        iface.close()
        assert dev.connections == 2


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda i: i.recv_until(b""), ValueError, "terminator"),
        (lambda i: i.recv_until(()), ValueError, "terminator"),
        (lambda i: i.recv_until("\n"), TypeError, "bytes"),
        (lambda i: i.recv_until((b"\n", "\r")), TypeError, "bytes"),
        (lambda i: i.recv_until(max_size=0), ValueError, "max_size"),
        (lambda i: i.recv_until(timeout=-1), ValueError, "timeout"),
        (lambda i: i.recv_exactly(-1), ValueError, "n must be"),
        (lambda i: i.recv_into(b"read-only"), TypeError, "writable"),
        (lambda i: i.recv_into(bytearray(4), 5), ValueError, "nbytes"),
        (lambda i: i.recv_into("text"), TypeError, "bytearray"),
        (lambda i: i.query("*IDN?"), TypeError, "encode"),
        (lambda i: i.query(b"x", terminator=""), TypeError, "bytes"),
        (lambda i: i.clear(quiet=-0.1), ValueError, "quiet"),
    ],
)
def test_bad_arguments_get_clear_errors_and_touch_nothing(device, call, error, words):
    iface, peer = device
    peer.sendall(b"kept\n")
    with pytest.raises(error, match=words):
        call(iface)
    assert iface.recv_until() == b"kept\n"


# -- connection management -----------------------------------------------------


def test_context_manager_closes_and_repr_tells_the_state(Interface):
    with FakeDevice({}) as dev, Interface(*dev.address, 1.0) as iface:
        assert iface.connected
        assert f"127.0.0.1:{dev.port}" in repr(iface)
        assert "connected" in repr(iface)
    assert not iface.connected
    assert "not connected" in repr(iface)


# -- properties: any split, same frames ------------------------------------------

TERMINATOR_SETS = [(b"\n",), (b"\r\n",), (b"\r\n", b"\n"), (b"aba",), (b"END", b";")]


def reference_frames(stream, terminators):
    """Frames by definition: cut where a terminator first completes."""
    frames, start = [], 0
    for end in range(1, len(stream) + 1):
        if any(stream[start:end].endswith(t) for t in terminators):
            frames.append(stream[start:end])
            start = end
    return frames, stream[start:]


@contextlib.contextmanager
def connected(backend):
    """A fresh loopback connection: ``(transport, server_socket)``."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=BOUND)
        server, _ = listener.accept()
    try:
        yield backend.Transport(client), server
    finally:
        client.close()
        server.close()


def split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def feed(server, chunks, paced):
    """Send ``chunks``; paced, from a thread with gaps so that they arrive
    while a receive is already waiting (one call sees several chunks)."""
    if not paced:
        return None

    def send_all():
        for chunk in chunks:
            server.sendall(chunk)
            time.sleep(0.001)

    thread = threading.Thread(target=send_all)
    thread.start()
    return thread


def read_all(transport, server, chunks, paced, count, read_one):
    """Collect ``count`` frames with ``read_one(timeout)`` while feeding."""
    got = []
    feeder = feed(server, chunks, paced)
    if not paced:
        for chunk in chunks:
            server.sendall(chunk)
            # Read whatever is complete now; a timeout mid-frame must keep
            # every byte for the next call.
            with contextlib.suppress(TransportTimeout):
                while len(got) < count:
                    got.append(read_one(len(got), 0))
    while len(got) < count:
        got.append(read_one(len(got), BOUND))
    if feeder is not None:
        feeder.join(BOUND)
    return got


# Tokens that make terminators, their prefixes and overlaps common.
TOKENS = [b"a", b"b", b"ab", b"\r", b"\n", b"\r\n", b"EN", b"END", b";", b"x" * 7]


@PROPERTY
@given(
    stream=st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
    terminators=st.sampled_from(TERMINATOR_SETS),
    paced=st.booleans(),
)
@example(  # a terminator split across two reads of one call
    stream=b"ab\r\ncd\r\n", cuts=[3, 7], terminators=(b"\r\n",), paced=True
)
def test_any_split_yields_the_same_frames(backend, stream, cuts, terminators, paced):
    expected, tail = reference_frames(stream, terminators)
    with connected(backend) as (transport, server):
        got = read_all(
            transport,
            server,
            split(stream, cuts),
            paced,
            len(expected),
            lambda _, timeout: transport.recv_until(terminators, timeout, 1000),
        )
        assert got == expected
        if tail:
            with pytest.raises(TransportTimeout) as info:
                transport.recv_until(terminators, 0.05, 1000)
            assert info.value.partial == tail
        assert transport.pending == len(tail)


@PROPERTY
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=20),
    paced=st.booleans(),
)
def test_exact_reads_reassemble_any_split(backend, sizes, cuts, paced):
    stream = bytes(i % 251 for i in range(sum(sizes)))
    with connected(backend) as (transport, server):
        got = read_all(
            transport,
            server,
            split(stream, cuts),
            paced,
            len(sizes),
            lambda index, timeout: transport.recv_exactly(sizes[index], timeout),
        )
    assert b"".join(got) == stream
    assert [len(frame) for frame in got] == sizes


# -- recv_until is an ordinary method to subclasses, mocks and the GC ----------


def test_read_terminator_changed_on_the_instance_applies_at_once(device):
    iface, peer = device
    peer.sendall(b"a;b\nc;")
    assert iface.recv_until() == b"a;b\n"
    iface.read_terminator = b";"
    assert iface.recv_until() == b"c;"


def test_frames_already_buffered_honour_max_size(device):
    iface, peer = device
    peer.sendall(b"ok\n0123456789\n")
    assert iface.recv_until() == b"ok\n"
    with pytest.raises(FrameTooLong):
        iface.recv_until(max_size=5)
    assert iface.recv_until() == b"0123456789\n"


@pytest.mark.parametrize("name", ["recv", "recv_until"])
def test_subclass_override_is_called(Interface, make_peer, name):
    class Driver(Interface):
        pass

    def marked(self, *args, **kwargs):
        return b"<" + getattr(super(Driver, self), name)(*args, **kwargs)

    setattr(Driver, name, marked)
    peer = make_peer()
    driver = Driver("127.0.0.1", peer.port, 1.0)
    peer.wait_connection().sendall(b"x\n")
    wait_readable(driver.comm)
    assert getattr(driver, name)() == b"<x\n"
    driver.close()


@pytest.mark.parametrize("name", ["recv", "recv_until"])
def test_class_patch_after_construction_takes_effect(device, Interface, name):
    from unittest import mock

    iface, peer = device
    peer.sendall(b"real\nreal\n")
    assert iface.recv_until() == b"real\n"  # the rest is now buffered
    with mock.patch.object(Interface, name, return_value=b"fake\n"):
        assert getattr(iface, name)() == b"fake\n"
    assert getattr(iface, name)() == b"real\n"


@pytest.mark.parametrize(
    ("name", "first"), [("recv", "bufsize"), ("recv_until", "terminator")]
)
def test_methods_keep_their_signature_and_docs(Interface, name, first):
    import inspect

    method = getattr(Interface, name)
    assert list(inspect.signature(method).parameters)[:2] == ["self", first]
    assert first in method.__doc__


def test_a_dropped_interface_is_freed_without_the_garbage_collector(
    Interface, make_peer
):
    import gc
    import weakref

    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, 1.0)
    peer.wait_connection().sendall(b"one\ntwo\n")
    assert iface.recv_until() == b"one\n"
    assert iface.recv_until() == b"two\n"  # served from the buffer
    peer.connections[0].sendall(b"three")
    wait_readable(iface.comm)
    assert iface.recv() == b"three"  # served as soon as it is there
    ref = weakref.ref(iface)
    sock = iface.comm
    gc.disable()
    try:
        del iface
        assert ref() is None
        assert sock.fileno() == -1  # closed as the interface went away
    finally:
        gc.enable()
