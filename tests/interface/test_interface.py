"""``TCPInterface``'s own policy, beyond what ``socs.tcp`` promises.

Logging (never printing), input checks, documented differences from socs
(a ``str`` message raises ``TypeError``; ``recv(0)`` returns at once), the
socket options, the compatibility hooks ``_connect`` and ``_reset``, and
resource hygiene (descriptors, threads, a socket closed behind our back).
"""

import gc
import logging
import math
import os
import socket
import threading
import time
from unittest import mock

import pytest

from socs_tcp.errors import NotConnected, TransportTimeout
from socs_tcp.testing import FakeDevice, as_received
from tests.conftest import (
    BOUND,
    abort,
    echo,
    port_of,
    read_exactly,
    wait_readable,
)

#: Timeout for calls that should succeed.
TIMEOUT = 2.0
#: Timeout for calls that should time out.
SHORT = 0.2


def assert_no_connection_before(peer, index):
    """Assert the peer's connection ``index`` is one we open now.

    Connections are accepted in the order they were made, so if the
    interface had connected since ``index`` was the next number, its
    connection would come first.
    """
    marker = socket.create_connection(("127.0.0.1", peer.port), timeout=BOUND)
    try:
        conn = peer.wait_connection(index)
        assert conn.getpeername() == marker.getsockname()
    finally:
        marker.close()


#: A device that sends back whatever arrives, as it arrives.
ECHO = (lambda data: data,)
ECHO_OPTIONS = {"terminator": None, "framer": as_received()}


@pytest.fixture
def echo_device():
    with FakeDevice(*ECHO, **ECHO_OPTIONS) as dev:
        yield dev


def open_fds():
    """Number of descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


# -- logging ---------------------------------------------------------------


def test_logs_to_socs_tcp_naming_the_device_and_never_prints(
    Interface, dormant, caplog, capsys
):
    caplog.set_level(logging.DEBUG, logger="socs_tcp")
    label = f"127.0.0.1:{port_of(dormant)}"
    iface = Interface("127.0.0.1", port_of(dormant), SHORT)
    with pytest.raises(ConnectionError):
        iface.send(b"x")
    with pytest.raises(ConnectionError):
        iface.recv()
    assert caplog.records
    assert {r.name for r in caplog.records} == {"socs_tcp"}
    assert all(label in r.getMessage() for r in caplog.records)
    assert any(
        r.levelno == logging.WARNING and "unable to connect" in r.getMessage()
        for r in caplog.records
    )
    assert capsys.readouterr() == ("", "")


def test_connection_replaced_at_once_is_one_info_line(
    Interface, make_peer, caplog, capsys
):
    caplog.set_level(logging.DEBUG, logger="socs_tcp")
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        abort(peer.wait_connection(0))
        wait_readable(iface.comm)
        iface.send(b"again")
        assert read_exactly(peer.wait_connection(1), 5) == b"again"
    # No poll failed: no warning, one INFO line saying why it reconnected.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "reconnected" in infos[0], infos
    assert all(f"127.0.0.1:{peer.port}" in r.getMessage() for r in caplog.records)
    assert capsys.readouterr() == ("", "")


# -- documented differences from socs --------------------------------------


@pytest.mark.parametrize(
    "msg, match", [("*IDN?", "encode"), (5, "bytes-like"), (None, "bytes-like")]
)
def test_non_bytes_message_raises_type_error_without_reconnecting(
    Interface, dormant, msg, match
):
    iface = Interface("127.0.0.1", port_of(dormant), TIMEOUT)
    assert iface.comm is None
    dormant.listen(4)
    with pytest.raises(TypeError, match=match):
        iface.send(msg)
    assert iface.comm is None
    dormant.setblocking(False)
    with pytest.raises(BlockingIOError):
        dormant.accept()  # socs would have reconnected: nothing is waiting


def test_str_message_leaves_an_open_connection_alone(Interface, make_peer):
    peer = make_peer(echo)
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        comm = iface.comm
        with pytest.raises(TypeError, match="encode"):
            iface.send("*IDN?")
        assert iface.comm is comm
        iface.send(b"*IDN?")
        assert iface.recv() == b"*IDN?"
        assert_no_connection_before(peer, 1)


def test_bufsize_zero_returns_empty_bytes_at_once(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, SHORT) as iface:
        # Nothing is waiting: a recv that waited would time out and raise.
        assert iface.recv(0) == b""
        peer.wait_connection().sendall(b"abc")
        wait_readable(iface.comm)
        assert iface.recv(0) == b""
        assert iface.recv() == b"abc"  # nothing was consumed


def test_bufsize_zero_without_connection(Interface, dormant):
    iface = Interface("127.0.0.1", port_of(dormant), SHORT)
    assert iface.recv(0) == b""


def test_negative_bufsize_is_a_value_error(Interface, echo_device):
    with Interface("127.0.0.1", echo_device.port, TIMEOUT) as iface:
        with pytest.raises(ValueError, match="bufsize"):
            iface.recv(-1)
        iface.send(b"still fine")
        assert iface.recv() == b"still fine"


def test_bufsize_is_checked_on_every_call_after_a_good_one(Interface, echo_device):
    # recv() skips the check for the very int object it took last time; any
    # other value is checked as the first was.
    with Interface("127.0.0.1", echo_device.port, TIMEOUT) as iface:
        for bufsize in (3, 3, -1, True, 2.0, "3", 3):
            iface.send(b"abcd")
            if bufsize == 3 and type(bufsize) is int:
                assert iface.recv(bufsize) == b"abc"
                assert iface.recv() == b"d"
            else:
                with pytest.raises((TypeError, ValueError), match="bufsize"):
                    iface.recv(bufsize)
                assert iface.recv() == b"abcd"


def test_recv_timeout_is_a_connection_error_and_a_timeout_error(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, SHORT) as iface:
        with pytest.raises(TransportTimeout) as info:
            iface.recv()
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, TimeoutError)


# -- construction checks ---------------------------------------------------


@pytest.mark.parametrize(
    "port", [0, -1, 70000, 65536, "abc", "", 1.5, True, None, "80.5"]
)
def test_bad_port_is_a_value_error_at_construction(Interface, port):
    with pytest.raises(ValueError, match="port"):
        Interface("127.0.0.1", port, SHORT)


@pytest.mark.parametrize("timeout", [-1, -0.1, math.nan])
def test_bad_timeout_is_a_value_error(Interface, dormant, timeout):
    with pytest.raises(ValueError, match="timeout"):
        Interface("127.0.0.1", port_of(dormant), timeout)


@pytest.mark.parametrize("address", ["", None, ("127.0.0.1", 5025)])
def test_bad_address_is_a_value_error(Interface, dormant, address):
    with pytest.raises(ValueError, match="ip_address"):
        Interface(address, port_of(dormant), SHORT)


@pytest.mark.parametrize(
    "keepalive",
    [
        (0, 1, 1),
        (1, -1, 1),
        (1, 1),
        (1, 2, 3, 4),
        (1.5, 1, 1),
        "abc",
        5,
        (100_000, 1, 1),  # past the kernel's limit: no connection could be made
        (1, 1, 1000),
    ],
)
def test_bad_keepalive_is_a_value_error(Interface, dormant, keepalive):
    with pytest.raises(ValueError, match="keepalive"):
        Interface("127.0.0.1", port_of(dormant), SHORT, keepalive=keepalive)


def test_timeout_none_waits_until_data_arrives(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, None) as iface:
        assert iface.timeout is None
        sender = threading.Timer(0.2, peer.wait_connection().sendall, (b"late",))
        sender.start()
        try:
            assert iface.recv() == b"late"
        finally:
            sender.join(BOUND)
        assert not sender.is_alive()


# -- a socket closed behind the interface's back ---------------------------


def test_socket_closed_behind_our_back_never_reaches_a_reused_descriptor(
    Interface, make_peer
):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, SHORT)
    peer.wait_connection(0)  # the peer's accept takes no descriptor from now on
    fd = iface.comm.fileno()
    iface.comm.close()
    other, other_end = socket.socketpair()  # takes the lowest free fd
    try:
        assert fd in (other.fileno(), other_end.fileno()), "fd was not reused"
        assert not iface.connected
        with pytest.raises(ConnectionError):
            iface.recv()
        iface.send(b"hello")  # reconnects
        assert iface.connected
        assert read_exactly(peer.wait_connection(1), 5) == b"hello"
        for sock in (other, other_end):
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(100)  # nothing was read from or written to it
    finally:
        other.close()
        other_end.close()
        iface.close()


# -- compatibility hooks ---------------------------------------------------


def test_connect_override_returning_none_leaves_comm_none(Interface, make_peer):
    class Offline(Interface):
        def _connect(self, address):
            return None

    peer = make_peer()
    iface = Offline("127.0.0.1", peer.port, SHORT)
    assert iface.comm is None
    assert not iface.connected
    with pytest.raises(ConnectionError):
        iface.send(b"x")  # _reset uses the override too
    assert_no_connection_before(peer, 0)


def test_connect_patched_on_the_class(Interface, make_peer):
    peer = make_peer()
    with mock.patch.object(Interface, "_connect", return_value=None) as connect:
        iface = Interface("127.0.0.1", peer.port, SHORT)
    connect.assert_called_once_with(("127.0.0.1", peer.port))
    assert iface.comm is None


def test_patched_reset_is_called_by_a_failing_send(Interface, dormant):
    iface = Interface("127.0.0.1", port_of(dormant), SHORT)
    with mock.patch.object(Interface, "_reset", autospec=True) as reset:
        with pytest.raises(ConnectionError):
            iface.send(b"x")
    reset.assert_called_once_with(iface)


def test_reset_wrapped_on_an_instance_sees_the_retry(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        abort(peer.wait_connection(0))
        wait_readable(iface.comm)
        with mock.patch.object(iface, "_reset", wraps=iface._reset) as reset:
            iface.send(b"retried")
        reset.assert_called_once_with()
        assert read_exactly(peer.wait_connection(1), 7) == b"retried"


# -- lifecycle -------------------------------------------------------------


def test_context_manager_closes_the_connection(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        assert iface.connected
        comm = iface.comm
    assert comm.fileno() == -1  # closed, not just dropped
    assert iface.comm is None
    assert not iface.connected
    assert peer.wait_connection(0).recv(100) == b""  # the peer sees EOF
    iface.close()  # closing twice is harmless
    iface.send(b"back")  # and send reconnects, as when comm is None
    assert read_exactly(peer.wait_connection(1), 4) == b"back"
    iface.close()


def test_repr_names_device_backend_and_state(Interface, backend, make_peer):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, SHORT)
    text = repr(iface)
    assert f"127.0.0.1:{peer.port}" in text
    assert f"backend={backend.Transport.backend}" in text
    assert "not connected" not in text
    iface.close()
    assert "not connected" in repr(iface)


def test_connected_follows_the_socket(Interface, make_peer, dormant):
    assert not Interface("127.0.0.1", port_of(dormant), SHORT).connected
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, SHORT)
    assert iface.connected
    iface.comm.close()
    assert not iface.connected
    iface.close()
    assert not iface.connected


def test_ipv6_loopback(Interface):
    try:
        dev = FakeDevice(*ECHO, **ECHO_OPTIONS, host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback on this host: {exc}")
    with dev, Interface("::1", dev.port, TIMEOUT) as iface:
        assert iface.comm.family == socket.AF_INET6
        assert f"[::1]:{dev.port}" in repr(iface)
        iface.send(b"six")
        assert iface.recv() == b"six"


def test_hostname(Interface, echo_device):
    with Interface("localhost", echo_device.port, TIMEOUT) as iface:
        assert iface.connected
        assert f"localhost:{echo_device.port}" in repr(iface)
        iface.send(b"name")
        assert iface.recv() == b"name"


def test_close_wakes_a_thread_blocked_in_recv(Interface, make_peer):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, BOUND)
    peer.wait_connection()
    outcome = []

    def wait():
        try:
            outcome.append(iface.recv())
        except ConnectionError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    iface.close()
    waiter.join(BOUND / 2)  # well before the recv's own timeout
    assert not waiter.is_alive()
    assert outcome == [b""] or isinstance(outcome[0], ConnectionError)


def test_unresolvable_host_name_is_logged_not_raised(Interface, dormant, caplog):
    # A label over 63 characters cannot even be encoded for lookup; to a
    # driver that is one more unreachable device.
    iface = Interface("x" * 64 + ".invalid", port_of(dormant), TIMEOUT)
    assert iface.comm is None
    assert "unable to connect" in caplog.text


# -- socket options --------------------------------------------------------


def tcp_option(sock, option):
    return sock.getsockopt(socket.IPPROTO_TCP, option)


def test_nodelay_is_on_by_default_and_can_be_turned_off(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, SHORT) as iface:
        assert tcp_option(iface.comm, socket.TCP_NODELAY)
    with Interface("127.0.0.1", peer.port, SHORT, nodelay=False) as iface:
        assert not tcp_option(iface.comm, socket.TCP_NODELAY)


def assert_keepalive(sock, idle, interval, count):
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    assert tcp_option(sock, socket.TCP_KEEPIDLE) == idle
    assert tcp_option(sock, socket.TCP_KEEPINTVL) == interval
    assert tcp_option(sock, socket.TCP_KEEPCNT) == count


def test_keepalive_sets_the_socket_options(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, SHORT, keepalive=(7, 3, 4)) as iface:
        assert iface.keepalive == (7, 3, 4)
        assert_keepalive(iface.comm, 7, 3, 4)


def test_options_survive_a_reconnect(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, SHORT, keepalive=(9, 2, 5)) as iface:
        first = iface.comm
        with pytest.raises(ConnectionError):
            iface.recv(reset_on_error=True)
        assert iface.comm is not first
        assert tcp_option(iface.comm, socket.TCP_NODELAY)
        assert_keepalive(iface.comm, 9, 2, 5)


# -- resources -------------------------------------------------------------


@pytest.fixture
def gc_paused():
    """Collect garbage now, then pause the cycle collector for the test.

    Descriptors left by earlier tests are released first, and a leak that
    only the collector would clean up (a reference cycle) stays visible.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc"
)

CYCLES = 50


@needs_proc
@pytest.mark.usefixtures("gc_paused")
def test_no_descriptor_leak_across_connect_close_cycles(Interface, echo_device):
    before = open_fds()
    for _ in range(CYCLES):
        with Interface("127.0.0.1", echo_device.port, TIMEOUT) as iface:
            iface.send(b"ping")
            assert iface.recv() == b"ping"
    for _ in range(CYCLES):  # socs drivers never call close()
        iface = Interface("127.0.0.1", echo_device.port, TIMEOUT)
        iface.send(b"ping")
        assert iface.recv() == b"ping"
        del iface
    echo_device.wait_clients(0)  # the device's ends count too
    assert echo_device.connections == 2 * CYCLES
    assert open_fds() == before


@needs_proc
@pytest.mark.usefixtures("gc_paused")
def test_no_descriptor_leak_across_failures_and_resets(Interface, make_peer, dormant):
    peer = make_peer()
    before = open_fds()
    for _ in range(CYCLES):
        iface = Interface("127.0.0.1", port_of(dormant), SHORT)
        with pytest.raises(NotConnected):
            iface.send(b"x")
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        for index in range(1, CYCLES + 1):
            iface._reset()
            assert iface.connected
            peer.wait_connection(index)  # keeps the listen backlog short
    for conn in peer.connections:
        conn.close()
    assert open_fds() == before


def test_no_thread_leak(Interface):
    before = set(threading.enumerate())
    dev = FakeDevice(*ECHO, **ECHO_OPTIONS)
    for _ in range(5):
        with Interface("127.0.0.1", dev.port, TIMEOUT) as iface:
            iface.send(b"ping")
            assert iface.recv() == b"ping"
            iface.timeout = SHORT
            with pytest.raises(ConnectionError):
                iface.recv(reset_on_error=True)  # times out, then resets
    dev.stop()  # joins the device's own thread
    assert set(threading.enumerate()) == before
