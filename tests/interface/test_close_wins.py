"""``close()`` is final: every call in flight ends with ``NotConnected`` and
nothing reconnects until a later call starts; no wait is unbounded, and a
watchdog's ``close()`` or ``reconnect()`` never waits behind a call.

Each test runs on both transports, against loopback peers that hold a call
where it is hard to leave: a send into a full buffer, a reply that never
comes, a pacing or ``query_delay`` sleep, a connect the listener never
answers.
"""

import os
import socket
import threading
import time

import pytest

from socs_tcp.errors import NotConnected
from socs_tcp.testing import FakeDevice
from tests.conftest import BOUND

#: How long after a close() the interrupted call must have ended.
PROMPT = 1.0


def later(action, delay=0.2):
    """Run ``action`` in another thread after ``delay`` seconds."""
    thread = threading.Timer(delay, action)
    thread.start()
    return thread


def in_thread(call, *args, **kwargs):
    """Start ``call`` in a thread; the thread, and the NotConnected it raised."""
    failed = []

    def run():
        try:
            call(*args, **kwargs)
        except NotConnected as exc:
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, failed


def ends_with_not_connected(call):
    """Run ``call``; assert it raises NotConnected; the seconds it took."""
    start = time.monotonic()
    with pytest.raises(NotConnected):
        call()
    return time.monotonic() - start


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_close_ends_a_send_blocked_on_a_full_buffer(Interface, make_peer, timeout):
    done = threading.Event()
    peer = make_peer(lambda conn: done.wait(BOUND))  # never reads
    iface = Interface(peer.host, peer.port, timeout)
    timer = later(iface.close)
    try:
        took = ends_with_not_connected(lambda: iface.send(b"x" * (64 << 20)))
    finally:
        timer.join()
        done.set()
    assert took < 0.2 + PROMPT
    assert len(peer.connections) == 1  # it did not reconnect and resend
    assert not iface.connected and iface.comm is None
    assert iface._lock.acquire(timeout=BOUND)  # and nothing kept the lock


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_close_ends_a_query_waiting_for_its_reply(Interface, timeout):
    with FakeDevice({b"Q": None}) as dev:
        iface = Interface(*dev.address, timeout)
        timer = later(iface.close)
        took = ends_with_not_connected(lambda: iface.query(b"Q"))
        timer.join()
        assert took < 0.2 + PROMPT
        assert dev.connections == 1 and iface.comm is None


def test_close_ends_a_receive_that_would_reset(Interface):
    with FakeDevice({b"Q": None}) as dev:
        iface = Interface(*dev.address, 30.0)
        timer = later(iface.close)
        ends_with_not_connected(lambda: iface.recv(reset_on_error=True))
        timer.join()
        time.sleep(0.1)
        assert dev.connections == 1 and iface.comm is None
        iface.send(b"Q\n")  # a later call reconnects
        dev.wait_received(1)
        assert dev.connections == 2


@pytest.mark.parametrize("pacing", ["query_delay", "send_interval"])
def test_close_ends_a_pacing_sleep_at_once(Interface, pacing):
    with FakeDevice({b"Q": b"R"}) as dev:
        iface = Interface(*dev.address, 2.0)
        iface.query(b"Q")
        setattr(iface, pacing, 30.0)  # the next query waits 30 s somewhere
        timer = later(iface.close)
        took = ends_with_not_connected(lambda: iface.query(b"Q"))
        timer.join()
        assert took < 0.2 + PROMPT
        assert dev.connections == 1


def test_reconnect_from_a_watchdog_does_not_wait_behind_a_sleep(Interface):
    with FakeDevice({b"Q": b"R"}) as dev:
        iface = Interface(*dev.address, 2.0, query_delay=30.0)
        worker, failed = in_thread(iface.query, b"Q")
        dev.wait_received(1)
        time.sleep(0.2)  # the worker is in its query_delay sleep
        start = time.monotonic()
        iface.reconnect()
        assert time.monotonic() - start < PROMPT
        worker.join(PROMPT)
        assert not worker.is_alive() and len(failed) == 1
        iface.query_delay = 0.0
        assert iface.query(b"Q", timeout=2.0) == b"R"  # on the new connection
        assert dev.connections == 2


def test_close_ends_a_connect_in_progress(Interface):
    # A listener whose backlog is full: the next connect() is never answered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    held = []
    try:
        for _ in range(8):  # fill the backlog; the rest of the SYNs are dropped
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(listener.getsockname())
            held.append(sock)
        time.sleep(0.2)
        iface = Interface.__new__(Interface)
        Interface.__init__(iface, "127.0.0.1", 1, 0.1)  # unreachable: no connection
        iface.ip_address, iface.port = listener.getsockname()
        iface.timeout = 30.0
        timer = later(iface.close, 0.5)
        took = ends_with_not_connected(lambda: iface.send(b"x\n"))
        timer.join()
        assert took < 0.5 + PROMPT
    finally:
        for sock in held:
            sock.close()
        listener.close()


def test_close_racing_with_sends_raises_only_connection_errors(Interface):
    with FakeDevice({b"Q": None}) as dev:
        iface = Interface(*dev.address, 2.0, idle_check=0.0)  # a poll every send
        others = []
        stop = threading.Event()

        def sender():
            while not stop.is_set():
                try:
                    iface.send(b"Q\n")
                except ConnectionError:
                    pass
                except Exception as exc:  # noqa: BLE001 - the failure under test
                    others.append(exc)

        thread = threading.Thread(target=sender)
        thread.start()
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                iface.close()
                time.sleep(0.001)
        finally:
            stop.set()
            thread.join(BOUND)
        iface.close()
        assert not thread.is_alive()
        assert others == []


def test_reconnect_during_a_blocked_send_resends_nothing(Interface, make_peer):
    done = threading.Event()
    peer = make_peer(lambda conn: done.wait(BOUND))  # never reads
    iface = Interface(peer.host, peer.port, None)
    worker, failed = in_thread(iface.send, b"x" * (64 << 20))
    try:
        time.sleep(0.3)
        start = time.monotonic()
        iface.reconnect()
        assert time.monotonic() - start < PROMPT
        worker.join(PROMPT)
        assert not worker.is_alive() and len(failed) == 1
        time.sleep(0.1)
        assert len(peer.connections) == 2  # the watchdog's, and no third
    finally:
        done.set()
        iface.close()
        worker.join(BOUND)


def test_reconnect_ends_a_pacing_sleep_and_sends_nothing(Interface):
    with FakeDevice({b"Q1": b"R1", b"Q2": b"R2"}) as dev:
        iface = Interface(*dev.address, 2.0, send_interval=30.0)
        iface.send(b"Q1\n")
        worker, failed = in_thread(iface.query, b"Q2")
        time.sleep(0.3)
        start = time.monotonic()
        iface.reconnect()
        assert time.monotonic() - start < PROMPT
        worker.join(PROMPT)
        assert not worker.is_alive() and len(failed) == 1
        assert dev.received == [b"Q1"]
        iface.close()


def test_reconnect_ends_a_receive_that_would_reset_without_another_connection(
    Interface,
):
    with FakeDevice({b"Q": None}) as dev:
        iface = Interface(*dev.address, None)
        worker, failed = in_thread(iface.recv, reset_on_error=True)
        time.sleep(0.3)
        iface.reconnect()
        worker.join(PROMPT)
        assert not worker.is_alive() and len(failed) == 1
        iface.send(b"Q\n")
        dev.wait_received(1)
        assert dev.connections == 2
        iface.close()


def test_a_reconnection_never_reuses_the_number_a_waiter_may_still_use(Interface):
    # A call about to enter recv() on the old descriptor must never land on
    # the new connection: the old number stays taken until the new one is made.
    with FakeDevice({b"Q": b"R"}) as dev:
        iface = Interface(*dev.address, 2.0)
        try:
            for _ in range(3):
                old = iface.comm.fileno()
                iface.reconnect()
                assert iface.comm.fileno() != old
                assert iface.query(b"Q") == b"R"
            fds = len(os.listdir("/proc/self/fd"))
            iface.reconnect()
            assert len(os.listdir("/proc/self/fd")) == fds  # the old one closed
        finally:
            iface.close()
