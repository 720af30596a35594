"""Recovery, stale replies, pacing and logging of ``TCPInterface``, on both
backends, against fake devices that close, reset, answer late or not at all
(``fake_device``), and raw loopback peers where a test needs the socket.
"""

import logging
import threading
import time

import pytest

from socs_tcp._health import ConnectionLog
from socs_tcp.errors import (
    ConnectionLost,
    IncompleteRead,
    NotConnected,
    TransportTimeout,
)
from tests.conftest import BOUND, abort, port_of, read_exactly

#: Timeout for calls that should succeed.
TIMEOUT = 2.0
#: Timeout for replies that are made to come too late.
SHORT = 0.1


def ECHO(command):
    """The devices here answer ``CMD`` with ``re:CMD``."""
    return b"re:" + command


def poll(iface, mode, n):
    """One poll of the device; its reply."""
    if mode == "query":
        return iface.query(b"P%d" % n)
    iface.send(b"P%d\n" % n)
    return iface.recv()


def failed_polls(iface, mode, polls, period):
    failures = 0
    for n in range(polls):
        time.sleep(period)
        try:
            reply = poll(iface, mode, n)
        except ConnectionError:
            failures += 1
        else:
            assert reply in (b"re:P%d" % n, b"re:P%d\n" % n), reply
    return failures


# -- connection health ------------------------------------------------------


@pytest.mark.parametrize("mode", ["send_recv", "query"])
def test_device_closing_idle_connections_costs_no_poll(Interface, fake_device, mode):
    dev = fake_device(ECHO, idle_close=0.15)
    with Interface(*dev.address, TIMEOUT) as iface:
        assert failed_polls(iface, mode, polls=5, period=0.3) == 0
    # The device did close each idle connection: each poll had a new one.
    assert dev.connections == 6


@pytest.mark.parametrize("mode", ["send_recv", "query"])
def test_device_resetting_between_polls_costs_no_poll(Interface, fake_device, mode):
    dev = fake_device(ECHO, drop_after=1, drop="rst")
    with Interface(*dev.address, TIMEOUT) as iface:
        assert failed_polls(iface, mode, polls=5, period=0.2) == 0
    assert dev.connections == 5


def test_end_of_stream_marks_the_connection_dead_and_send_replaces_it(
    Interface, make_peer
):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        peer.wait_connection(0).close()
        assert iface.recv() == b""  # as socs.tcp
        assert not iface.connected
        iface.idle_check = float("inf")  # only what recv saw tells
        iface.send(b"A\n")
        assert read_exactly(peer.wait_connection(1), 2) == b"A\n"
        assert iface.connected


def test_reset_seen_by_a_receive_is_replaced_before_the_next_send(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        abort(peer.wait_connection(0))
        with pytest.raises(ConnectionLost):
            iface.recv_until()
        assert not iface.connected
        iface.idle_check = float("inf")
        iface.send(b"B\n")
        assert read_exactly(peer.wait_connection(1), 2) == b"B\n"


def test_reconnect_opens_a_new_connection(Interface, fake_device):
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        first = iface.comm
        iface.reconnect()
        assert iface.comm is not first and iface.connected
        assert iface.query(b"C") == b"re:C"
        assert dev.connections == 2


def test_reconnect_raises_not_connected_naming_the_device(Interface, dormant):
    iface = Interface("127.0.0.1", port_of(dormant), TIMEOUT)
    with pytest.raises(NotConnected, match=f"127.0.0.1:{port_of(dormant)}: unable"):
        iface.reconnect()


def test_reconnect_interval_refuses_at_once_instead_of_dialling(Interface, fake_device):
    dev = fake_device(ECHO)
    iface = Interface(*dev.address, TIMEOUT, reconnect_interval=0.5)
    try:
        dev.wait_clients(1)
        iface.close()
        began = time.monotonic()
        with pytest.raises(NotConnected, match="reconnect_interval=0.5 s"):
            iface.send(b"D\n")
        assert time.monotonic() - began < 0.25
        assert dev.connections == 1
        time.sleep(0.5)
        assert iface.query(b"D") == b"re:D"
        assert dev.connections == 2
    finally:
        iface.close()


def test_reconnect_interval_is_a_class_attribute_too(Interface, fake_device):
    dev = fake_device(ECHO)
    Paced = type("Paced", (Interface,), {"reconnect_interval": 5.0})
    with Paced(*dev.address, TIMEOUT) as iface:
        assert iface.reconnect_interval == 5.0
        with pytest.raises(NotConnected, match="reconnect_interval"):
            iface.reconnect()


@pytest.mark.parametrize(
    "option", ["query_delay", "send_interval", "reconnect_interval"]
)
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "1"])
def test_pacing_options_are_checked(Interface, make_peer, option, value):
    peer = make_peer()
    with pytest.raises((TypeError, ValueError), match=option):
        Interface("127.0.0.1", peer.port, TIMEOUT, **{option: value})
    assert not peer.connections


# -- stale replies ------------------------------------------------------------


def test_late_reply_arriving_after_the_next_command_is_never_returned(
    Interface, fake_device
):
    # The reply to ONE comes after TWO was sent: socs.tcp returns it to TWO.
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, TIMEOUT) as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"ONE", timeout=SHORT)
        dev.inject()  # TWO is answered at once, before ONE's reply is due
        assert iface.query(b"TWO") == b"re:TWO"
        assert iface.query(b"THREE") == b"re:THREE"
    # Resynchronised by reconnecting: the late reply left with the old one.
    assert dev.connections == 2


def test_a_whole_line_after_a_timeout_is_not_taken_for_the_late_reply(
    Interface, fake_device
):
    # An unsolicited line arrives before the late reply: whole frames in the
    # buffer do not prove they are the owed reply, so the next query
    # reconnects instead of guessing.
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, TIMEOUT) as iface:
        for n in range(3):
            with pytest.raises(TransportTimeout):
                iface.query(b"Q%d" % n, timeout=SHORT)
            dev.send(b"EVENT\n")
            dev.inject(latency=0.0)
            assert iface.query(b"R%d" % n) == b"re:R%d" % n
            dev.inject(latency=0.3)
    assert dev.connections == 4


@pytest.mark.parametrize("mode", ["query", "send"])
def test_resync_clear_discards_until_quiet_without_reconnecting(
    Interface, fake_device, caplog, mode
):
    caplog.set_level(logging.INFO, logger="socs_tcp")
    dev = fake_device(ECHO, latency=0.2)
    with Interface(*dev.address, TIMEOUT, resync="clear", resync_quiet=0.3) as iface:
        with pytest.raises(TransportTimeout):
            if mode == "query":
                iface.query(b"ONE", timeout=SHORT)
            else:
                iface.send(b"ONE\n")
                iface.recv_until(timeout=SHORT)
        dev.inject()  # the late reply comes within resync_quiet
        assert poll(iface, mode, 2).rstrip(b"\n") == b"re:P2"
    assert dev.connections == 1
    assert sum("resynchronised" in r.getMessage() for r in caplog.records) == 1
    assert iface.health.late_replies_discarded == 1


def test_resync_none_keeps_socs_behaviour(Interface, fake_device):
    dev = fake_device(ECHO, latency=0.2)
    with Interface(*dev.address, TIMEOUT, resync=None) as iface:
        iface.send(b"ONE\n")
        with pytest.raises(TransportTimeout):
            iface.recv_until(timeout=SHORT)
        dev.inject()
        dev.wait_idle()
        iface.send(b"TWO\n")
        assert iface.recv_until() == b"re:ONE\n"  # the stale reply, as socs.tcp
    assert dev.connections == 1


@pytest.mark.parametrize(
    "receive",
    [
        lambda iface: iface.recv(),
        lambda iface: iface.recv_until(timeout=SHORT),
        lambda iface: iface.recv_exactly(7, timeout=SHORT),
        lambda iface: iface.recv_into(bytearray(64)),
        lambda iface: iface.recv_exactly_into(bytearray(7), 7, timeout=SHORT),
    ],
    ids=["recv", "recv_until", "recv_exactly", "recv_into", "recv_exactly_into"],
)
def test_send_after_a_failed_receive_never_reads_the_stale_reply(
    Interface, fake_device, caplog, receive
):
    caplog.set_level(logging.INFO, logger="socs_tcp")
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, SHORT) as iface:
        iface.send(b"ONE\n")
        with pytest.raises(TransportTimeout):
            receive(iface)
        dev.inject()
        iface.send(b"TWO\n")  # resynchronises first: a new connection
        iface.timeout = TIMEOUT
        assert iface.recv_until() == b"re:TWO\n"
    assert dev.connections == 2
    lines = [
        r.getMessage() for r in caplog.records if "resynchronising" in r.getMessage()
    ]
    assert len(lines) == 1 and lines[0].startswith(f"127.0.0.1:{dev.port}")


def test_a_receive_retried_without_sending_keeps_every_byte(Interface, fake_device):
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, TIMEOUT) as iface:
        iface.send(b"ONE\n")
        with pytest.raises(TransportTimeout):
            iface.recv_until(timeout=SHORT)
        assert iface.recv_until() == b"re:ONE\n"  # still wanted, still there
        iface.send(b"TWO\n")  # the stream is in step: no reconnection
        assert iface.recv_until() == b"re:TWO\n"
    assert dev.connections == 1


def test_resync_is_checked(Interface, fake_device):
    dev = fake_device(ECHO)
    for bad in ["close", True, 0]:
        with pytest.raises(
            ValueError, match="resync must be 'reconnect', 'clear' or None"
        ):
            Interface(*dev.address, TIMEOUT, resync=bad)


def test_half_a_late_reply_makes_the_next_query_resynchronise(Interface, fake_device):
    dev = fake_device(ECHO, chunk=4, chunk_delay=BOUND)
    with Interface(*dev.address, TIMEOUT) as iface:
        with pytest.raises(TransportTimeout) as caught:
            iface.query(b"ONE", timeout=SHORT)
        assert caught.value.partial == b"re:O"
        dev.inject()
        assert iface.query(b"TWO") == b"re:TWO"
    assert dev.connections == 2


def test_racing_late_replies_never_yield_a_stale_reply(Interface, fake_device):
    # Replies late by less or more than the next query's start, in turn.
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        answered = 0
        for n in range(12):
            dev.inject(latency=(0.05, 0.15, 0.0, 0.25)[n % 4])
            try:
                reply = iface.query(b"Q%d" % n, timeout=SHORT)
            except TransportTimeout:
                continue
            assert reply == b"re:Q%d" % n
            answered += 1
    assert answered >= 3


def test_query_checks_every_argument_before_sending(Interface, fake_device):
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        with pytest.raises(ValueError, match="timeout"):
            iface.query(b"HEATER ON", timeout=-1)
        with pytest.raises(ValueError, match="terminator"):
            iface.query(b"HEATER ON", terminator=b"")
        with pytest.raises(TypeError, match="clear"):
            iface.query(b"HEATER ON", clear="yes")
        with pytest.raises(TypeError, match="encode"):
            iface.query("HEATER ON")
        assert iface.query(b"OK") == b"re:OK"
    assert dev.received == [b"OK"]


# -- pacing -------------------------------------------------------------------


def test_send_interval_spaces_the_starts_of_sends(
    Interface, fake_device, traffic_trace
):
    # The trace line is logged as each send starts: the client's own clock,
    # not the device's thread, which a busy machine can run late.
    caplog = traffic_trace
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT, send_interval=0.1) as iface:
        for n in range(6):
            iface.send(b"S%d\n" % n)
        iface.recv_exactly(6 * len(b"re:S0\n"))
    starts = [r.created for r in caplog.records if " > " in r.getMessage()]
    assert len(starts) == 6
    gaps = sorted(b - a for a, b in zip(starts, starts[1:]))
    assert gaps[0] >= 0.1 - 0.001, gaps
    assert gaps[len(gaps) // 2] <= 0.1 + 0.010, gaps
    assert dev.received == [b"S%d" % n for n in range(6)]


def test_send_interval_does_not_delay_a_send_that_is_already_late(
    Interface, fake_device
):
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT, send_interval=0.1) as iface:
        iface.send(b"A\n")
        time.sleep(0.15)
        began = time.monotonic()
        iface.send(b"B\n")
        assert time.monotonic() - began < 0.05


def test_query_delay_waits_between_command_and_reading(Interface, fake_device):
    dev = fake_device(ECHO)
    Slow = type("Slow", (Interface,), {"query_delay": 0.2})
    with Slow(*dev.address, TIMEOUT) as iface:
        began = time.monotonic()
        assert iface.query(b"Q", timeout=SHORT) == b"re:Q"  # timeout after the delay
        assert time.monotonic() - began >= 0.2


def test_no_send_gets_between_a_query_and_its_reply(Interface, fake_device):
    dev = fake_device(ECHO, latency=0.2)
    with Interface(*dev.address, TIMEOUT) as iface:
        result = []
        querier = threading.Thread(target=lambda: result.append(iface.query(b"Q")))
        querier.start()
        dev.wait_received(1)  # the query's command is at the device
        iface.send(b"X\n")  # waits for the query's reply
        querier.join(BOUND)
        assert result == [b"re:Q"]
        assert iface.recv_until() == b"re:X\n"


# -- logging ------------------------------------------------------------------


def test_device_down_costs_at_most_one_line_per_poll(Interface, dormant, caplog):
    caplog.set_level(logging.DEBUG, logger="socs_tcp")
    label = f"127.0.0.1:{port_of(dormant)}"
    iface = Interface("127.0.0.1", port_of(dormant), SHORT)
    for _ in range(10):
        try:
            iface.send(b"P\n")
            iface.recv()
        except ConnectionError:
            pass
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings  # the outage began
    assert len(caplog.records) <= 10 + 1
    assert all(r.levelno == logging.DEBUG for r in caplog.records[1:])
    caplog.clear()
    dormant.listen(4)  # the device is back
    iface.send(b"P\n")
    [restored] = caplog.records
    assert restored.levelno == logging.WARNING
    assert restored.getMessage().startswith(f"{label}: connection restored after")
    assert "(11 failed attempts)" in restored.getMessage()
    iface.close()


def test_outage_warnings_repeat_at_most_every_interval_with_a_count(caplog):
    caplog.set_level(logging.DEBUG, logger="socs_tcp")
    log = ConnectionLog("10.0.0.1:502", repeat=0.05)
    for _ in range(3):
        log.unreachable("unable to connect: refused")
    time.sleep(0.06)
    log.unreachable("unable to connect: refused")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0] == "10.0.0.1:502: unable to connect: refused"
    assert "3 failed attempts since the last message" in messages[1]


def test_timeout_message_names_device_timeout_and_bytes_kept(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        peer.wait_connection(0).sendall(b"hello")
        with pytest.raises(TransportTimeout) as caught:
            iface.recv_until(timeout=SHORT)
        assert str(caught.value) == (
            f"127.0.0.1:{peer.port}: no complete reply within 0.1 s "
            "(5 bytes received and kept)"
        )
        with pytest.raises(TransportTimeout, match=r"no complete reply.*\(5 bytes"):
            iface.recv_until(timeout=SHORT)
        assert iface.recv_exactly(5) == b"hello"


def test_traffic_trace_is_off_by_default(Interface, fake_device, caplog):
    caplog.set_level(logging.DEBUG, logger="socs_tcp")
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        assert iface.query(b"Q") == b"re:Q"
    assert not [r for r in caplog.records if r.name == "socs_tcp.traffic"]


def test_traffic_trace_shows_text_escaped_binary_in_hex_and_cuts(
    Interface, fake_device, traffic_trace
):
    caplog = traffic_trace
    dev = fake_device(ECHO)
    label = f"{dev.host}:{dev.port}"
    with Interface(*dev.address, TIMEOUT) as iface:
        assert iface.query(b"*IDN?\r") == b"re:*IDN?\r"
        iface.send(bytes([0, 1, 0xFF]) + b"\n")
        iface.recv_exactly(7)
        iface.send(b"L" * 300 + b"\n")
        iface.recv_until()
    lines = [r.getMessage() for r in caplog.records if r.name == "socs_tcp.traffic"]
    assert lines[:4] == [
        f"{label} > b'*IDN?\\r\\n'",
        f"{label} < b're:*IDN?\\r\\n'",
        f"{label} > 00 01 ff 0a",
        f"{label} < 72 65 3a 00 01 ff 0a",
    ]
    assert lines[4].endswith(" ... (301 bytes)") and lines[4].startswith(f"{label} > ")


# -- receive-into -------------------------------------------------------------


def test_recv_exactly_into_fills_the_buffer_across_chunks(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        conn = peer.wait_connection(0)
        buffer = bytearray(10)

        def dribble():
            for piece in (b"abc", b"defg", b"hijXY"):
                conn.sendall(piece)
                time.sleep(0.02)

        sender = threading.Thread(target=dribble)
        sender.start()
        assert iface.recv_exactly_into(buffer) == 10
        sender.join(BOUND)
        assert buffer == b"abcdefghij"
        assert iface.recv(10) == b"XY"  # what came after stays buffered


def test_recv_exactly_into_timeout_says_how_far_it_got(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        peer.wait_connection(0).sendall(b"abcd")
        buffer = bytearray(8)
        with pytest.raises(TransportTimeout) as caught:
            iface.recv_exactly_into(buffer, timeout=SHORT)
        assert caught.value.partial == b"abcd" == buffer[:4]
        assert "4 bytes received" in str(caught.value)
        buffer.extend(b"x")  # the buffer was released


def test_recv_exactly_into_at_end_of_stream(Interface, make_peer):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        conn = peer.wait_connection(0)
        conn.sendall(b"ab")
        conn.close()
        buffer = bytearray(4)
        with pytest.raises(IncompleteRead) as caught:
            iface.recv_exactly_into(memoryview(buffer), 3)
        assert caught.value.partial == b"ab"
        assert not iface.connected


@pytest.mark.parametrize("method", ["recv_into", "recv_exactly_into"])
def test_receive_into_resets_on_error_when_asked(Interface, make_peer, method):
    peer = make_peer()
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        peer.wait_connection(0)
        with pytest.raises(TransportTimeout):
            getattr(iface, method)(bytearray(4), 0, SHORT, True)
        peer.wait_connection(1)  # reconnected
        assert iface.connected


def test_a_device_that_resets_every_connection_is_one_line_not_one_per_poll(
    Interface, fake_device, caplog
):
    caplog.set_level(logging.INFO, logger="socs_tcp")
    dev = fake_device(ECHO, refuse=True)  # accepts, then closes at once
    with Interface(*dev.address, SHORT) as iface:
        for n in range(10):
            with pytest.raises(ConnectionError):
                iface.query(b"P%d" % n)
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert dev.connections >= 10
    assert len(lines) <= 2, [r.getMessage() for r in lines]
    assert all(f"127.0.0.1:{dev.port}" in r.getMessage() for r in lines)


def test_resync_after_the_device_closed_says_so(Interface, fake_device, caplog):
    caplog.set_level(logging.INFO, logger="socs_tcp")
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, SHORT) as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"ONE")
        dev.down()  # closes the connection; the reason is the device's
        dev.up()
        iface.timeout = TIMEOUT
        dev.inject(latency=0.0)
        assert iface.query(b"TWO") == b"re:TWO"
    lines = [r.getMessage() for r in caplog.records if "reconnected" in r.getMessage()]
    assert len(lines) == 1 and "closed" in lines[0], lines


def test_a_query_against_a_chatty_device_is_bounded_by_its_timeout(
    Interface, fake_device
):
    # The device never stops talking: resynchronising by clearing can never
    # see it quiet, and gives up within the timeout (then reconnects).
    dev = fake_device(ECHO, latency=0.3)
    with Interface(*dev.address, 0.5, resync="clear") as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"ONE", timeout=SHORT)
        stop = threading.Event()

        def chatter():
            while not stop.is_set():
                dev.send(b"EVENT\n")
                time.sleep(0.01)

        thread = threading.Thread(target=chatter)
        thread.start()
        try:
            start = time.monotonic()
            with pytest.raises(ConnectionError):  # an EVENT comes first
                iface.query(b"TWO", expect=b"re:")
            assert time.monotonic() - start < 0.5 * 3 + 0.5
        finally:
            stop.set()
            thread.join(BOUND)
