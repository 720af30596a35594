"""The transport contract, on both backends, over real loopback sockets.

Deadlines, partial sends, EINTR, peer close and reset, buffer ordering, the
``bufsize`` promise, descriptor safety and GIL release.
"""

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from array import array

import pytest

from socs_tcp.errors import (
    ConnectionLost,
    IncompleteRead,
    NotConnected,
    TransportTimeout,
)
from tests.conftest import BACKENDS, BOUND, IDS, abort, wait_readable

BIG = 32 * 1024 * 1024  # far more than loopback socket buffers hold


def later(delay, action, *args):
    """Run ``action(*args)`` in a thread after ``delay`` s; join it after."""
    thread = threading.Timer(delay, action, args)
    thread.start()
    return thread


def receive_in_thread(transport):
    """Start ``transport.recv(10, 3.0)`` in a thread, let it begin waiting.

    Returns the thread and the list its result lands in.
    """
    result = []
    waiter = threading.Thread(target=lambda: result.append(transport.recv(10, 3.0)))
    waiter.start()
    time.sleep(0.1)
    return waiter, result


@pytest.fixture
def alarm():
    """``alarm(handler, interval)``: SIGALRM every ``interval`` s, undone after."""
    previous = signal.getsignal(signal.SIGALRM)

    def start(handler, interval):
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, interval, interval)

    yield start
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


class Interrupted(Exception):
    pass


# -- send ------------------------------------------------------------------


def test_sendall_delivers_every_byte_across_partial_sends(pair):
    transport, _, server = pair
    payload = bytes(range(256)) * (BIG // 256 // 4)
    received = bytearray()

    def read_slowly():
        while len(received) < len(payload):
            chunk = server.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    transport.sendall(payload, BOUND)
    reader.join(BOUND)
    assert bytes(received) == payload


def test_sendall_deadline_covers_the_whole_call(pair):
    transport, _, _ = pair  # the peer never reads: the send buffer fills
    start = time.monotonic()
    with pytest.raises(TransportTimeout) as info:
        transport.sendall(b"x" * BIG, 0.3)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, ConnectionError)
    assert 0.3 <= elapsed < 0.3 + 1.0


def test_sendall_accepts_any_bytes_like(pair):
    transport, _, server = pair
    transport.sendall(memoryview(b"abcdef")[2:], BOUND)
    transport.sendall(bytearray(b"gh"), BOUND)
    transport.sendall(array("H", [0x6A69]), BOUND)  # b"ij" on little-endian
    data = b""
    while len(data) < 8:
        data += server.recv(64)
    assert data[:6] == b"cdefgh" and len(data) == 8


def test_sendall_str_is_a_type_error(pair):
    transport, _, _ = pair
    with pytest.raises(TypeError):
        transport.sendall("text", BOUND)


# -- receive ---------------------------------------------------------------


def test_recv_times_out_with_timeout_error(pair):
    transport, _, _ = pair
    start = time.monotonic()
    with pytest.raises(TransportTimeout) as info:
        transport.recv(100, 0.2)
    assert time.monotonic() - start >= 0.2
    assert info.value.partial == b""


def test_recv_timeout_zero_polls_without_waiting(pair):
    transport, _, server = pair
    with pytest.raises(TransportTimeout):
        transport.recv(100, 0)
    server.sendall(b"ready")
    wait_readable(pair[1])
    assert transport.recv(100, 0) == b"ready"


def test_recv_waits_for_data_that_comes_later(pair):
    transport, _, server = pair
    timer = later(0.1, server.sendall, b"late")
    assert transport.recv(100, BOUND) == b"late"
    timer.join()


def test_recv_after_send_waits_for_the_reply(pair):
    transport, _, server = pair
    transport.sendall(b"ping", BOUND)
    timer = later(0.05, server.sendall, b"pong")
    assert transport.recv(100, BOUND) == b"pong"
    timer.join()


def test_recv_never_reads_more_than_bufsize_from_the_kernel(pair):
    transport, client, server = pair
    server.sendall(b"0123456789" * 10)
    wait_readable(client)
    assert transport.recv(10, BOUND) == b"0123456789"
    assert transport.pending == 0
    # The other 90 bytes are still in the kernel, where code that looks at
    # comm directly (as socs drivers do) expects them.
    rest = b""
    while len(rest) < 90:
        rest += client.recv(100, socket.MSG_DONTWAIT)
    assert rest == b"0123456789" * 9


def test_recv_returns_exactly_what_came_short_or_filling_the_request(pair):
    # A short reply, one that fills the request, the rest of it, and a short
    # one again: each read returns what came, and nothing is read ahead.
    transport, client, server = pair
    for sent, reads in [
        (b"abc", [b"abc"]),
        (b"0123456789XYZ", [b"0123456789", b"XYZ"]),
        (b"q", [b"q"]),
        (b"9876543210", [b"9876543210"]),
        (b"!", [b"!"]),
    ]:
        server.sendall(sent)
        wait_readable(client)
        assert [transport.recv(10, BOUND) for _ in reads] == reads
        assert transport.pending == 0


def test_recv_into_fills_the_callers_buffer(pair):
    transport, client, server = pair
    target = bytearray(8)
    server.sendall(b"abcdefghij")
    wait_readable(client)
    assert transport.recv_into(memoryview(target), 8, BOUND) == 8
    assert target == b"abcdefgh"
    doubles = array("d", [0.0])
    view = memoryview(doubles).cast("B")
    server.sendall(array("d", [1.5]).tobytes()[2:])
    received = transport.recv_into(view, 8, BOUND)  # b"ij" first, then more
    while received < 8:
        received += transport.recv_into(view[received:], 8 - received, BOUND)
    assert bytes(view[:2]) == b"ij"


def test_buffered_bytes_come_first_in_order_for_every_receive(pair):
    transport, client, server = pair
    server.sendall(b"one\ntwo-three-four")
    wait_readable(client)
    assert transport.recv_until((b"\n",), BOUND, 1000) == b"one\n"
    assert transport.pending == 14
    assert transport.recv(4, BOUND) == b"two-"
    assert transport.recv_exactly(6, BOUND) == b"three-"
    target = bytearray(10)
    assert transport.recv_into(memoryview(target), 10, BOUND) == 4
    assert target[:4] == b"four"
    assert transport.pending == 0
    server.sendall(b"five")
    assert transport.recv(100, BOUND) == b"five"


def test_clear_returns_buffered_and_pending_without_waiting(pair):
    transport, client, server = pair
    server.sendall(b"stale\nmore")
    wait_readable(client)
    assert transport.recv_until((b"\n",), BOUND, 100) == b"stale\n"
    server.sendall(b"-and-more")
    time.sleep(0.05)  # let loopback deliver; clear must not wait for it
    assert transport.clear(4, 0.0, BOUND) == (13, b"more")
    assert transport.pending == 0
    start = time.monotonic()
    assert transport.clear(4, 0.0, BOUND) == (0, b"")
    assert time.monotonic() - start < 0.5


# -- deadlines over chunked replies -----------------------------------------


def dribble(server, data, gap):
    for byte in data:
        server.sendall(bytes([byte]))
        time.sleep(gap)


def test_a_dribbling_peer_cannot_stretch_the_deadline(pair):
    transport, _, server = pair
    feeder = threading.Thread(target=dribble, args=(server, b"abcdefghij\n", 0.1))
    feeder.start()
    start = time.monotonic()
    with pytest.raises(TransportTimeout) as info:
        transport.recv_until((b"\n",), 0.35, 1000)
    elapsed = time.monotonic() - start
    feeder.join(BOUND)
    assert 0.35 <= elapsed < 0.35 + 0.5
    # Nothing lost: the bytes that came in time are buffered, and a retry
    # returns the whole frame.
    assert info.value.partial and b"abcdefghij".startswith(info.value.partial)
    assert transport.recv_until((b"\n",), BOUND, 1000) == b"abcdefghij\n"


def test_recv_exactly_times_out_keeping_what_arrived(pair):
    transport, client, server = pair
    server.sendall(b"12345")
    wait_readable(client)
    with pytest.raises(TransportTimeout) as info:
        transport.recv_exactly(10, 0.2)
    assert info.value.partial == b"12345"
    assert transport.pending == 5
    server.sendall(b"67890")
    assert transport.recv_exactly(10, BOUND) == b"1234567890"


# -- signals (EINTR) ---------------------------------------------------------


def test_eintr_runs_the_handler_and_keeps_waiting(pair, alarm):
    transport, _, server = pair
    calls = []
    alarm(lambda signum, frame: calls.append(signum), 0.05)
    timer = later(0.3, server.sendall, b"after signals")
    assert transport.recv(100, BOUND) == b"after signals"
    timer.join()
    assert calls, "the signal handler never ran"


def test_eintr_does_not_restart_the_deadline(pair, alarm):
    transport, _, _ = pair
    alarm(lambda signum, frame: None, 0.05)
    start = time.monotonic()
    with pytest.raises(TransportTimeout):
        transport.recv_until((b"\n",), 0.3, 100)
    assert time.monotonic() - start < 0.3 + 0.5


def test_exception_from_a_signal_handler_propagates(pair, alarm):
    transport, client, server = pair
    server.sendall(b"part")
    wait_readable(client)

    def handler(signum, frame):
        raise Interrupted

    alarm(handler, 0.1)
    with pytest.raises(Interrupted):
        transport.recv_until((b"\n",), BOUND, 100)
    signal.setitimer(signal.ITIMER_REAL, 0)
    # The interrupted read kept what it had.
    server.sendall(b"ial\n")
    assert transport.recv_until((b"\n",), BOUND, 100) == b"partial\n"


def test_exception_from_a_signal_handler_interrupts_a_blocked_send(pair, alarm):
    transport, _, _ = pair

    def handler(signum, frame):
        raise Interrupted

    alarm(handler, 0.1)
    with pytest.raises(Interrupted):
        transport.sendall(b"x" * BIG, BOUND)


# -- peer close and reset ----------------------------------------------------


def test_peer_close_gives_empty_recv(pair):
    transport, _, server = pair
    server.close()
    assert transport.recv(100, BOUND) == b""
    assert transport.recv_into(memoryview(bytearray(4)), 4, BOUND) == 0


def test_peer_close_mid_frame_raises_incomplete_read_and_keeps_bytes(pair):
    transport, _, server = pair
    server.sendall(b"half a li")
    server.close()
    with pytest.raises(IncompleteRead) as info:
        transport.recv_until((b"\n",), BOUND, 100)
    assert isinstance(info.value, ConnectionError)
    assert info.value.partial == b"half a li"
    with pytest.raises(IncompleteRead) as info:
        transport.recv_exactly(20, BOUND)
    assert info.value.partial == b"half a li"
    assert transport.recv(100, BOUND) == b"half a li"
    assert transport.recv(100, BOUND) == b""


def test_peer_reset_is_connection_lost_with_its_errno(pair):
    transport, _, server = pair
    abort(server)
    with pytest.raises(ConnectionLost) as info:
        transport.recv(100, BOUND)
    assert info.value.errno == errno.ECONNRESET
    assert str(info.value) == f"{os.strerror(errno.ECONNRESET)} (errno 104)"


def test_send_after_peer_reset_is_connection_lost(pair):
    transport, _, server = pair
    abort(server)
    time.sleep(0.05)
    with pytest.raises(ConnectionLost) as info:
        for _ in range(100):
            transport.sendall(b"x" * 1024, BOUND)
    assert info.value.errno in (errno.EPIPE, errno.ECONNRESET)


@pytest.mark.parametrize("name", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_no_sigpipe_even_with_the_default_handler(name):
    # With SIGPIPE at its default action a plain write() to a reset
    # connection kills the process; MSG_NOSIGNAL makes it an error instead.
    script = textwrap.dedent(
        f"""
        import signal, socket, struct, time
        from socs_tcp import _backend
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()
        transport = _backend.load("{name}").Transport(client)
        time.sleep(0.05)
        try:
            for _ in range(100):
                transport.sendall(b"x" * 1024, 5)
        except OSError as exc:
            print(type(exc).__name__, exc.errno)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"killed by signal {-result.returncode}"
    name, number = result.stdout.split()
    assert name == "ConnectionLost"
    assert int(number) in (errno.EPIPE, errno.ECONNRESET)


# -- descriptor safety ---------------------------------------------------------


def test_socket_closed_behind_the_transport_is_not_connected(pair, make_peer):
    transport, client, _ = pair
    other_peer = make_peer()
    old_fd = client.fileno()
    client.close()
    # The next socket gets the lowest free number: the one just closed.
    other = socket.create_connection(("127.0.0.1", other_peer.port), timeout=BOUND)
    try:
        assert other.fileno() == old_fd
        for call in (
            lambda: transport.recv(10, 0.1),
            lambda: transport.sendall(b"must not arrive", 0.1),
            lambda: transport.recv_until((b"\n",), 0.1, 10),
        ):
            with pytest.raises(NotConnected, match="the connection is closed"):
                call()
        reused = other_peer.wait_connection()
        reused.setblocking(False)
        with pytest.raises(BlockingIOError):
            reused.recv(100)  # nothing was sent on the reused descriptor
    finally:
        other.close()


# -- threads -------------------------------------------------------------------


def test_a_waiting_receive_releases_the_gil(pair):
    # The data that ends the wait is sent by Python code in another thread:
    # if the wait held the GIL, that thread could not run and recv would
    # time out.
    transport, _, server = pair
    waiter, result = receive_in_thread(transport)
    server.sendall(b"go")
    waiter.join(BOUND)
    assert result == [b"go"]


@pytest.mark.parametrize(
    "second",
    [
        lambda t: t.recv(10, 0.1),
        lambda t: t.recv_into(memoryview(bytearray(4)), 4, 0.1),
        lambda t: t.recv_until((b"\n",), 0.1, 10),
        lambda t: t.recv_exactly(4, 0.1),
        lambda t: t.clear(10, 0.0, 0.1),
    ],
    ids=["recv", "recv_into", "recv_until", "recv_exactly", "clear"],
)
def test_a_second_concurrent_receiver_is_refused(pair, second):
    # The buffer has one reader at a time: a second one could otherwise
    # move it under a read in progress.
    transport, _, server = pair
    waiter, result = receive_in_thread(transport)
    with pytest.raises(RuntimeError, match="another thread is receiving"):
        second(transport)
    server.sendall(b"done")
    waiter.join(BOUND)
    assert result == [b"done"]


def test_send_while_another_thread_receives(pair):
    transport, _, server = pair
    waiter, result = receive_in_thread(transport)
    transport.sendall(b"request", BOUND)
    assert server.recv(100) == b"request"
    server.sendall(b"reply")
    waiter.join(BOUND)
    assert result == [b"reply"]


def test_reading_goes_on_after_a_frame_larger_than_the_buffer(pair):
    # A frame far larger than a read chunk grows the buffer, which is then
    # given back; the frames after it must still read correctly.
    transport, client, server = pair
    big = bytes(range(256)) * 8192  # 2 MiB
    sender = threading.Thread(target=server.sendall, args=(big + b"tail\n",))
    sender.start()
    assert transport.recv_exactly(len(big), BOUND) == big
    sender.join(BOUND)
    assert transport.recv_until((b"\n",), BOUND, 100) == b"tail\n"
    assert transport.pending == 0
    server.sendall(b"small\n")
    assert transport.recv_until((b"\n",), BOUND, 100) == b"small\n"
