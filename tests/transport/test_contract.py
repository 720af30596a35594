"""Both transports give the same results, errors and reads, edge cases included.

Each test runs on both backends (ids ``py`` and ``cy``) over real loopback
sockets; the lockstep property at the end drives the two side by side with
the same kernel contents and the same calls, and compares everything.
"""

import contextlib
import fcntl
import struct
import sys
import termios
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socs_tcp import _backend
from socs_tcp._limits import CHUNK_SIZE, MAX_READ
from socs_tcp.errors import (
    ConnectionLost,
    IncompleteRead,
    NotConnected,
    TransportError,
    TransportTimeout,
)
from tests.conftest import BACKENDS, BOUND, abort, read_exactly
from tests.transport.interrupting import call_while_interrupted


def kernel_holds(sock, n):
    """Wait (bounded) until ``sock``'s receive queue holds ``n`` bytes."""
    deadline = time.monotonic() + BOUND
    while True:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        held = struct.unpack("i", raw)[0]
        if held == n:
            return
        assert time.monotonic() < deadline, f"kernel holds {held}, not {n} bytes"
        time.sleep(0.001)


@contextlib.contextmanager
def firehose(server, data=b"x" * 65536):
    """Send ``data`` over and over from a thread until the block ends."""
    stop = threading.Event()

    def pour():
        with contextlib.suppress(OSError):
            while not stop.is_set():
                server.sendall(data)

    thread = threading.Thread(target=pour)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            server.shutdown(2)  # wakes a sendall blocked on a full buffer
        thread.join(BOUND)
        assert not thread.is_alive()


# -- how much a call reads from the kernel --------------------------------------


# Loopback receive queues hold about 128 kB here: the sizes stay below that.


def test_a_read_ahead_asks_the_kernel_for_one_chunk(pair):
    transport, client, server = pair
    server.sendall(b"a\n" + b"y" * 100000)
    kernel_holds(client, 100002)
    assert transport.recv_until(b"\n", BOUND, 100) == b"a\n"
    assert transport.pending == CHUNK_SIZE - 2
    # Buffered bytes come first, and alone: no kernel read to top them up.
    assert len(transport.recv(200000, BOUND)) == CHUNK_SIZE - 2
    assert len(transport.recv(200000, BOUND)) == 100000 - (CHUNK_SIZE - 2)


def test_an_exact_read_asks_for_what_the_frame_lacks(pair):
    transport, client, server = pair
    server.sendall(b"z" * 100000)
    kernel_holds(client, 100000)
    assert len(transport.recv_exactly(90000, BOUND)) == 90000
    assert transport.pending == 0  # one read of what was lacking, no more
    kernel_holds(client, 10000)
    assert len(transport.recv_exactly(10, BOUND)) == 10
    assert transport.pending == 10000 - 10  # at least a chunk is asked for


# -- edge arguments: one decision, both backends ------------------------------


@pytest.fixture
def device(Interface, make_peer):
    """``(interface, peer_socket)``."""
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, 1.0)
    yield iface, peer.wait_connection()
    iface.close()


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda i: i.recv_until(max_size=7.0), TypeError, "max_size must be an int"),
        (lambda i: i.recv_until(max_size=True), TypeError, "max_size must be an int"),
        (lambda i: i.recv(7.0), TypeError, "bufsize must be an integer"),
        (lambda i: i.recv(-1), ValueError, "bufsize must be >= 0"),
        (lambda i: i.recv_exactly(2**63), ValueError, "n must be from 0 to"),
        (lambda i: i.recv_exactly(4.0), TypeError, "n must be an integer"),
        (lambda i: i.recv_into(bytearray(4), 2.0), TypeError, "nbytes must be an int"),
        (lambda i: i.send(memoryview(b"abcdef")[::2]), TypeError, "C-contiguous"),
        (lambda i: i.send(12), TypeError, "bytes-like"),
        (lambda i: i.recv_until(timeout=float("nan")), ValueError, "timeout"),
        (lambda i: i.clear(quiet=None), ValueError, "quiet must be a finite"),
    ],
)
def test_bad_arguments_are_refused_the_same_way(device, call, error, words):
    iface, peer = device
    peer.sendall(b"kept\n")
    with pytest.raises(error, match=words):
        call(iface)
    assert iface.recv_until() == b"kept\n"


def test_bad_send_sends_nothing(device):
    iface, peer = device
    with pytest.raises(TypeError):
        iface.send(memoryview(b"abcdef")[::2])
    iface.send(b"only this")
    assert read_exactly(peer, 9) == b"only this"


def test_limits_beyond_memory_mean_no_limit(device):
    iface, peer = device
    peer.sendall(b"frame\nrest")
    assert iface.recv_until(max_size=2**63) == b"frame\n"
    assert iface.recv(2**63) == b"rest"  # taken as MAX_READ
    with pytest.raises(TransportTimeout) as info:
        iface.recv_exactly(2**62, timeout=0.05)
    assert info.value.partial == b""


def test_recv_never_returns_more_than_max_read(device):
    iface, peer = device
    sender = threading.Thread(target=peer.sendall, args=(b"q" * (MAX_READ + 10),))
    sender.start()
    got = 0
    while got < MAX_READ + 10:
        chunk = iface.recv(2**40)
        assert 0 < len(chunk) <= MAX_READ
        got += len(chunk)
    sender.join(BOUND)


# -- timeouts: huge, infinite, NaN, set after construction --------------------


def test_a_timeout_of_weeks_works(device):
    iface, peer = device
    iface.timeout = 3e6  # 35 days: more than poll() can wait at once
    assert iface.timeout == 3e6
    threading.Timer(0.05, peer.sendall, (b"late\n",)).start()
    assert iface.recv_until() == b"late\n"
    peer.sendall(b"x")
    assert iface.recv_exactly(1, timeout=3e6) == b"x"


@pytest.mark.parametrize("value", [1e10, float("inf"), None])
def test_timeouts_beyond_the_clock_wait_forever(Interface, make_peer, value):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, value)
    assert iface.timeout is None
    assert iface.connected
    threading.Timer(0.05, peer.wait_connection().sendall, (b"ok\n",)).start()
    assert iface.recv_until() == b"ok\n"
    iface.close()


@pytest.mark.parametrize(
    ("value", "error"),
    [(float("nan"), ValueError), (-1, ValueError), ("1", TypeError), (True, TypeError)],
)
def test_timeout_is_checked_when_assigned(device, value, error):
    iface, _ = device
    with pytest.raises(error, match="timeout"):
        iface.timeout = value
    assert iface.timeout == 1.0


def test_timeout_error_is_caught_as_timeout_error_and_socket_timeout(device):
    import socket

    iface, _ = device
    with pytest.raises(TimeoutError):
        iface.recv_until(timeout=0.01)
    with pytest.raises(socket.timeout):
        iface.recv_until(timeout=0.01)
    with pytest.raises(ConnectionError) as info:
        iface.recv_until(timeout=0.01)
    assert str(info.value) == f"127.0.0.1:{iface.port}: no reply within 0.01 s"


# -- deadlines hold against a fast sender ---------------------------------------


def test_recv_until_keeps_its_deadline_against_a_fast_stream(pair):
    transport, _, server = pair
    with firehose(server):
        start = time.monotonic()
        with pytest.raises(TransportTimeout) as info:
            transport.recv_until(b"\n", 0.05, sys.maxsize)
        took = time.monotonic() - start
    assert took < 1.0
    assert len(info.value.partial) > 0
    assert transport.pending >= len(info.value.partial)


def test_recv_exactly_keeps_its_deadline_against_a_fast_stream(pair):
    transport, _, server = pair
    with firehose(server):
        start = time.monotonic()
        with pytest.raises(TransportTimeout):
            transport.recv_exactly(256 * 1024 * 1024, 0.05)
        took = time.monotonic() - start
    assert took < 1.0


@pytest.mark.parametrize("mode", ["blocking", "longer timeout"])
def test_send_keeps_its_deadline_whatever_the_socket_timeout(pair, mode):
    transport, client, _ = pair  # the peer never reads
    client.settimeout(None if mode == "blocking" else 30.0)
    start = time.monotonic()
    with pytest.raises(TransportTimeout, match=r"could not send within 0.2 s \(\d+ of"):
        transport.sendall(b"x" * (64 * 1024 * 1024), 0.2)
    assert time.monotonic() - start < 1.5


# -- close() from another thread ----------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda i: i.recv(),
        lambda i: i.recv_until(),
        lambda i: i.recv_exactly(10),
        lambda i: i.recv_into(bytearray(10)),
    ],
    ids=["recv", "recv_until", "recv_exactly", "recv_into"],
)
def test_close_from_another_thread_raises_not_connected(Interface, make_peer, call):
    peer = make_peer()
    for _ in range(3):  # the same outcome on every run
        iface = Interface("127.0.0.1", peer.port, BOUND)
        outcome = []

        def receive(iface=iface, outcome=outcome):
            try:
                outcome.append(call(iface))
            except Exception as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=receive)
        waiter.start()
        time.sleep(0.1)
        iface.close()
        waiter.join(BOUND)
        assert not waiter.is_alive()
        (error,) = outcome
        assert type(error) is NotConnected, repr(error)
        assert str(error) == f"127.0.0.1:{peer.port}: the connection is closed"


# -- concurrent senders --------------------------------------------------------


def test_concurrent_sends_never_interleave(pair):
    transport, _, server = pair
    block = 8192
    received = bytearray()

    def read_all():
        while len(received) < 16 * 4 * block:
            chunk = server.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    errors = []

    def send(value):
        try:
            for _ in range(4):
                transport.sendall(bytes([value]) * block, BOUND)
        except Exception as exc:  # noqa: BLE001 - any escape is the failure
            errors.append(exc)

    senders = [threading.Thread(target=send, args=(v,)) for v in range(16)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(BOUND)
    reader.join(BOUND)
    assert errors == []
    assert len(received) == 16 * 4 * block
    for start in range(0, len(received), block):
        message = received[start : start + block]
        assert message == bytes([message[0]]) * block, "two sends interleaved"


# -- a reset, a refused receiver, a signal: nothing is lost --------------------


def test_a_reset_mid_frame_keeps_the_frame_start(pair):
    transport, client, server = pair
    server.sendall(b"half")
    kernel_holds(client, 4)
    with pytest.raises(TransportTimeout):
        transport.recv_until(b"\n", 0.01, 100)
    abort(server)
    with pytest.raises(ConnectionLost) as info:
        transport.recv_until(b"\n", BOUND, 100)
    assert info.value.partial == b"half"
    assert transport.pending == 4


def test_the_front_keeps_the_partial_of_a_reset(device):
    iface, peer = device
    peer.sendall(b"half")
    with pytest.raises(TransportTimeout):
        iface.recv_until(timeout=0.05)
    abort(peer)
    with pytest.raises(TransportError) as info:
        iface.recv_until()
    assert isinstance(info.value, ConnectionLost)
    assert info.value.partial == b"half"
    assert str(info.value).startswith(f"127.0.0.1:{iface.port}: ")


def test_a_refused_recv_into_releases_the_buffer(pair):
    transport, _, server = pair
    waiter = threading.Thread(target=lambda: transport.recv(10, 3.0))
    waiter.start()
    time.sleep(0.1)
    target = bytearray(16)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="another thread"):
            transport.recv_into(target, 16, 0.1)
    target.extend(b"resizable")  # BufferError if a view were still held
    server.sendall(b"done")
    waiter.join(BOUND)


def test_front_recv_into_releases_the_buffer_when_it_fails(device):
    iface, _ = device
    target = bytearray(16)
    with pytest.raises(TransportTimeout) as info:
        iface.recv_into(target, timeout=0.01)
    target.extend(b"resizable")  # the exception's frames hold no view
    assert info.value.partial == b""


@pytest.mark.parametrize("read", ["recv_exactly", "recv_until"])
def test_a_signal_handler_that_raises_never_corrupts_the_stream(
    Interface, make_peer, read
):
    # The handler raises at random points of frame reads, which are retried.
    # Frames carry their number twice, so a frame missing bytes from its
    # middle shows. Like socket.recv, a result already taken and being
    # returned when the handler raises is lost whole: numbers may skip, but
    # every frame is intact and they stay in order.
    frames = [b"%06d:%06d\n" % (i, i) for i in range(20000)]
    stream = b"".join(frames)

    def send(conn):
        view = memoryview(stream)
        for start in range(0, len(view), 997):
            conn.sendall(view[start : start + 997])
            if start % 40 == 0:
                time.sleep(0.0002)

    peer = make_peer(send)
    iface = Interface("127.0.0.1", peer.port, BOUND)
    call = (
        (lambda: iface.recv_exactly(14))
        if read == "recv_exactly"
        else (lambda: iface.recv_until(b"\n"))
    )
    try:
        got, interrupted = call_while_interrupted(
            call, lambda got: got and got[-1] == frames[-1], 0.0003, 20
        )
    finally:
        iface.close()
    assert interrupted > 10, "the handler hardly ever ran"
    numbers = []
    for frame in got:
        assert len(frame) == 14 and frame[:6] == frame[7:13], frame
        numbers.append(int(frame[:6]))
    assert numbers == sorted(set(numbers))
    assert len(numbers) > 0.9 * len(frames)


# -- lockstep: the same calls on the same kernel contents ---------------------

_CALLS = st.one_of(
    st.tuples(st.just("feed"), st.binary(min_size=1, max_size=3000)),
    st.tuples(st.just("recv"), st.integers(1, 5000)),
    st.tuples(st.just("recv_into"), st.integers(1, 5000)),
    st.tuples(
        st.just("recv_until"),
        st.sampled_from([b"\n", b"\r\n", (b"\r\n", b"\n"), b"\x00", b"ab"]),
        st.integers(1, 4000),
    ),
    st.tuples(st.just("recv_exactly"), st.integers(0, 5000)),
    st.tuples(st.just("clear"), st.integers(0, 20)),
    st.tuples(st.just("eof")),
)


def _apply(transport, call):
    """Run ``call`` with timeout 0 (one read attempt); a comparable outcome."""
    name, *args = call
    try:
        if name == "recv":
            return transport.recv(args[0], 0.0)
        if name == "recv_into":
            target = bytearray(args[0])
            n = transport.recv_into(memoryview(target), args[0], 0.0)
            return bytes(target[:n])
        if name == "recv_until":
            return transport.recv_until(args[0], 0.0, args[1])
        if name == "recv_exactly":
            return transport.recv_exactly(args[0], 0.0)
        return transport.clear(args[0], 0.0, 0.0)
    except TransportError as exc:
        return (type(exc), str(exc), exc.partial)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both transports built")
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calls=st.lists(_CALLS, min_size=1, max_size=25))
def test_both_transports_agree_call_for_call(make_peer, calls):
    import socket

    peer = make_peer()
    sides = []
    for name in ("python", "cython"):
        client = socket.create_connection(("127.0.0.1", peer.port), timeout=BOUND)
        server = peer.wait_connection(len(sides))
        sides.append((_backend.load(name).Transport(client), client, server))
    try:
        in_kernel = 0
        for call in calls:
            if call[0] in ("feed", "eof"):
                for _, _, server in sides:
                    if call[0] == "feed":
                        server.sendall(call[1])
                    else:
                        server.shutdown(socket.SHUT_WR)
                if call[0] == "eof":
                    break
                in_kernel += len(call[1])
                for _, client, _ in sides:
                    kernel_holds(client, in_kernel)
                continue
            outcomes = [_apply(t, call) for t, _, _ in sides]
            assert outcomes[0] == outcomes[1], call
            pending = [t.pending for t, _, _ in sides]
            assert pending[0] == pending[1], call
            in_kernel = struct.unpack(
                "i", fcntl.ioctl(sides[0][1].fileno(), termios.FIONREAD, b"\0" * 4)
            )[0]
        # After EOF (or at the end), both read out the same rest.
        for call in [("recv_exactly", 1)] * 3 + [("recv", 100)]:
            outcomes = [_apply(t, call) for t, _, _ in sides]
            assert outcomes[0] == outcomes[1], call
    finally:
        for _, client, _ in sides:
            client.close()


def test_incomplete_read_is_the_same_class_everywhere(pair):
    transport, _, server = pair
    server.sendall(b"abc")
    server.close()
    with pytest.raises(IncompleteRead):
        transport.recv_exactly(5, BOUND)
    with pytest.raises(IncompleteRead):
        transport.recv_until(b"\n", BOUND, 100)
