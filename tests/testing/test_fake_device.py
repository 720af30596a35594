"""FakeDevice: dialogues, framing, faults and control, against TCPInterface.

Every test that talks to the device through ``TCPInterface`` runs on both
backends; the device side is always a real loopback server.
"""

import errno
import os
import re
import socket
import struct
import threading
import time

import pytest

from socs_tcp import IncompleteRead, TransportTimeout
from socs_tcp.testing import (
    FakeDevice,
    ModbusRegisters,
    as_received,
    fixed_length,
    length_prefixed,
    mbap,
)
from tests.conftest import BOUND

#: Timeout for calls that should time out.
SHORT = 0.2


@pytest.fixture
def Gauge(Interface):
    """A ``\\r\\n`` line driver on the backend under test."""
    return type(
        "Gauge",
        (Interface,),
        {"read_terminator": b"\r\n", "write_terminator": b"\r\n"},
    )


@pytest.fixture
def connect(Gauge):
    """Connect a ``Gauge`` to a device; every one is closed after the test."""
    opened = []

    def make(dev, timeout=BOUND, cls=None, **options):
        iface = (cls or Gauge)(*dev.address, timeout=timeout, **options)
        opened.append(iface)
        return iface

    yield make
    for iface in opened:
        iface.close()


IDN = {b"*IDN?": b"ACME,PTC,1.0", b"PR1": b"1.2E-3"}


# -- dialogue ----------------------------------------------------------------


def test_issue_example_answers_and_records_commands(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n")
    gauge = connect(dev)
    assert dev.address == ("127.0.0.1", dev.port)
    assert gauge.query(b"*IDN?") == b"ACME,PTC,1.0"
    assert dev.received == [b"*IDN?"]


def test_merged_and_split_commands_are_framed_by_the_terminator(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n")
    gauge = connect(dev)
    gauge.send(b"PR1\r\n*IDN?\r\nPR")
    dev.wait_received(2)
    gauge.send(b"1\r")
    gauge.send(b"\n")
    replies = [gauge.recv_until() for _ in range(3)]
    assert replies == [b"1.2E-3\r\n", b"ACME,PTC,1.0\r\n", b"1.2E-3\r\n"]
    assert dev.received == [b"PR1", b"*IDN?", b"PR1"]


def test_values_lists_regexes_callables_none_and_default(fake_device, connect):
    dev = fake_device(
        {
            b"N?": [b"1", b"2"],
            re.compile(rb"ECHO (\w+)"): lambda command, match: match.group(1),
            b"RESET": None,
        },
        terminator=b"\r\n",
        default=b"ERR",
    )
    gauge = connect(dev, timeout=SHORT)
    assert [gauge.query(b"N?") for _ in range(3)] == [b"1", b"2", b"2"]
    assert gauge.query(b"ECHO hello") == b"hello"
    assert gauge.query(b"WHAT") == b"ERR"
    with pytest.raises(TransportTimeout):
        gauge.query(b"RESET")


def test_reply_terminator_differs_from_the_command_terminator(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r", reply_terminator=b"\r\n")
    gauge = connect(dev)
    gauge.send(b"PR1\r")
    assert gauge.recv_until() == b"1.2E-3\r\n"


class SetPoint:
    """A stateful device: the set-point persists between commands."""

    def __init__(self):
        self.value = b"0"

    def __call__(self, command):
        if command.startswith(b"SP "):
            self.value = command[3:]
            return b"OK"
        if command == b"SP?":
            return self.value
        return None


def test_one_callable_answers_everything_and_keeps_state(fake_device, connect):
    dev = fake_device(SetPoint(), terminator=b"\r\n")
    gauge = connect(dev)
    assert gauge.query(b"SP 4.2") == b"OK"
    assert gauge.query(b"SP?") == b"4.2"


def test_several_clients_at_once(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n")
    gauges = [connect(dev) for _ in range(3)]
    dev.wait_clients(3)
    assert [g.query(b"PR1") for g in gauges] == [b"1.2E-3"] * 3
    assert (dev.connections, dev.clients) == (3, 3)
    gauges[0].close()
    dev.wait_clients(2)
    assert dev.connections == 3


def test_a_raising_callable_gets_no_reply_and_fails_stop(connect):
    def broken(command):
        raise ValueError("no such register")

    dev = FakeDevice(broken, terminator=b"\r\n")
    gauge = connect(dev, timeout=SHORT)
    with pytest.raises(TransportTimeout):
        gauge.query(b"PR1")
    assert "no such register" in dev.transcript_text()
    with pytest.raises(ValueError, match="no such register"):
        dev.stop()


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "responses, message",
    [
        ({b"PR1": "1.2E-3"}, r"responses\[b'PR1'\] is str \(write b'1.2E-3'\)"),
        ({b"PR1": 1.5}, r"responses\[b'PR1'\] is float"),
        ({b"N?": [b"1", 2]}, r"responses\[b'N\?'\]: the list holds 2"),
        ({"PR1": b"1"}, r"key 'PR1' is str.*write b'PR1'"),
        ({re.compile("PR1"): b"1"}, r"re.compile\(rb'...'\)"),
        ([b"PR1"], "must be a dict"),
    ],
)
def test_wrong_responses_are_refused_naming_the_key(responses, message):
    with pytest.raises(TypeError, match=message):
        FakeDevice(responses)


def test_unknown_fault_and_bad_values_are_refused():
    with pytest.raises(TypeError, match="unknown fault latancy"):
        FakeDevice({}, latancy=1)
    with pytest.raises(ValueError, match='drop must be "fin", "rst"'):
        FakeDevice({}, drop="close")
    with pytest.raises(ValueError, match="latency must be seconds"):
        FakeDevice({}, latency=-1)
    with pytest.raises(TypeError, match="needs a framer"):
        FakeDevice({}, terminator=None)


def test_a_port_in_use_is_a_clear_error(fake_device):
    dev = fake_device({})
    with pytest.raises(OSError, match=f"127.0.0.1:{dev.port}: the port is in use"):
        FakeDevice({}, port=dev.port)


# -- faults ------------------------------------------------------------------


def test_latency_delays_each_reply(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", latency=0.3)
    gauge = connect(dev)
    began = time.monotonic()
    assert gauge.query(b"*IDN?") == b"ACME,PTC,1.0"
    assert time.monotonic() - began >= 0.25
    with pytest.raises(TransportTimeout):
        gauge.query(b"PR1", timeout=0.1)


def test_query_never_returns_the_late_reply_of_a_timed_out_query(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", latency=0.3)
    gauge = connect(dev)
    with pytest.raises(TransportTimeout):
        gauge.query(b"PR1", timeout=0.1)
    assert gauge.query(b"*IDN?") == b"ACME,PTC,1.0"


def test_chunk_splits_replies_and_recv_until_joins_them(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", chunk=4, chunk_delay=0.1)
    gauge = connect(dev)
    gauge.send(b"*IDN?\r\n")
    assert gauge.recv(4096) == b"ACME"  # the first piece, alone for 0.1 s
    assert gauge.recv_until() == b",PTC,1.0\r\n"
    sent = [e.data for e in dev.transcript if e.kind == "sent"]
    assert sent == [b"ACME", b",PTC", b",1.0", b"\r\n"]


def test_silent_reads_commands_and_never_replies(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", silent=True)
    gauge = connect(dev, timeout=SHORT)
    with pytest.raises(TransportTimeout):
        gauge.query(b"PR1")
    assert dev.received == [b"PR1"]


def test_drop_fin_closes_instead_of_replying(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", drop="fin")
    gauge = connect(dev)
    gauge.send(b"PR1\r\n")
    assert gauge.recv() == b""  # end of stream, as socs returns it
    with pytest.raises(IncompleteRead):
        gauge.recv_until()


def test_drop_rst_resets_instead_of_replying(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", drop="rst")
    gauge = connect(dev)
    gauge.send(b"PR1\r\n")
    with pytest.raises(ConnectionError) as raised:
        gauge.recv()
    assert raised.value.errno == errno.ECONNRESET


def test_drop_after_closes_after_n_replies_and_the_driver_reconnects(
    fake_device, connect
):
    dev = fake_device(IDN, terminator=b"\r\n", drop_after=2)
    gauge = connect(dev)
    assert [gauge.query(b"PR1"), gauge.query(b"PR1")] == [b"1.2E-3"] * 2
    dev.wait_clients(0)
    assert gauge.recv() == b""
    assert gauge.query(b"PR1") == b"1.2E-3"  # on a new connection
    assert dev.connections == 2


def test_query_after_the_device_closed_reconnects_first(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", drop_after=1)
    gauge = connect(dev)
    assert gauge.query(b"PR1") == b"1.2E-3"
    dev.wait_clients(0)
    assert gauge.recv() == b""
    assert gauge.query(b"PR1") == b"1.2E-3"


def test_drop_after_with_rst(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", drop_after=1, drop="rst")
    gauge = connect(dev)
    assert gauge.query(b"PR1") == b"1.2E-3"
    dev.wait_clients(0)
    with pytest.raises(ConnectionError) as raised:
        gauge.recv()
    assert raised.value.errno == errno.ECONNRESET


def test_idle_close_drops_a_quiet_connection(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", idle_close=0.1)
    gauge = connect(dev)
    assert gauge.query(b"PR1") == b"1.2E-3"
    began = time.monotonic()
    dev.wait_clients(0)
    assert 0.05 <= time.monotonic() - began < BOUND
    assert gauge.recv() == b""


def test_garbage_comes_before_each_reply(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", garbage=b"\x00\xff")
    gauge = connect(dev)
    assert gauge.query(b"PR1") == b"\x00\xff1.2E-3"


def test_late_replies_come_one_turn_late(fake_device, connect):
    dev = fake_device({b"A": b"a", b"B": b"b"}, terminator=b"\r\n", late=0.05)
    gauge = connect(dev, resync=None)  # socs.tcp's behaviour shows the fault
    gauge.send(b"A\r\n")
    with pytest.raises(TransportTimeout):
        gauge.recv_until(timeout=SHORT)  # A's reply waits for the next command
    gauge.send(b"B\r\n")
    assert gauge.recv_until() == b"a\r\n"  # and comes after B was sent


def test_query_never_takes_a_late_reply_for_its_own(fake_device, connect):
    dev = fake_device({b"A": b"a", b"B": b"b"}, terminator=b"\r\n", late=0.05)
    gauge = connect(dev)
    with pytest.raises(TransportTimeout):
        gauge.query(b"A", timeout=SHORT)
    # A's reply comes after B is sent; B's own is held back in turn: the
    # query raises rather than return A's.
    with pytest.raises(TransportTimeout):
        gauge.query(b"B", timeout=SHORT)


def test_refuse_accepts_then_closes(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", refuse=True)
    gauge = connect(dev, timeout=SHORT)
    with pytest.raises(ConnectionError):
        gauge.query(b"PR1")
    assert dev.connections >= 1
    assert dev.clients == 0
    assert dev.received == []


def test_inject_replaces_faults_and_inject_clears_them(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", silent=True)
    gauge = connect(dev, timeout=SHORT)
    dev.inject(garbage=b"#")
    assert dev.faults.silent is False
    assert gauge.query(b"PR1") == b"#1.2E-3"
    dev.inject()
    assert gauge.query(b"PR1") == b"1.2E-3"
    assert dev.faults.active() == {}


# -- control -----------------------------------------------------------------


def test_down_refuses_and_drops_then_up_serves_on_the_same_port(
    fake_device, connect, Gauge
):
    dev = fake_device(IDN, terminator=b"\r\n")
    gauge = connect(dev, timeout=SHORT)
    port = dev.port
    dev.down()
    assert dev.clients == 0
    assert gauge.recv() == b""
    assert connect(dev).comm is None  # refused, as a switched-off device
    with pytest.raises(ConnectionError):
        gauge.query(b"PR1")
    dev.up()
    assert dev.port == port
    assert gauge.query(b"PR1") == b"1.2E-3"


def test_send_pushes_unsolicited_bytes_to_every_client(fake_device, connect):
    dev = fake_device({}, terminator=b"\r\n")
    first, second = connect(dev), connect(dev)
    dev.wait_clients(2)
    assert dev.send(b"TICK 1\r\n") == 2
    assert first.recv_until() == second.recv_until() == b"TICK 1\r\n"


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_stop_is_fast_and_leaves_no_thread_or_descriptor(connect):
    threads, fds = threading.active_count(), open_fds()
    dev = FakeDevice(IDN, terminator=b"\r\n", latency=10)
    gauge = connect(dev)
    gauge.send(b"PR1\r\n")  # a reply is due in 10 s
    dev.wait_received(1)
    began = time.perf_counter()
    dev.stop()
    took = time.perf_counter() - began
    gauge.close()
    assert took < 0.1
    assert threading.active_count() == threads
    assert open_fds() == fds


def test_ipv6_loopback(fake_device, connect):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        dev = fake_device(IDN, terminator=b"\r\n", host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    assert connect(dev).query(b"PR1") == b"1.2E-3"


# -- binary framing ----------------------------------------------------------


def test_framers_cut_frames_and_wait_for_the_rest():
    assert fixed_length(3)(b"abcde") == (b"abc", b"de")
    assert fixed_length(3)(b"ab") is None
    two_byte_length = length_prefixed(0, 2, byteorder="little")
    assert two_byte_length(b"\x02\x00xyz") == (b"\x02\x00xy", b"z")
    assert two_byte_length(b"\x02\x00x") is None
    request = b"\x00\x07\x00\x00\x00\x06\x01\x04\x00\x01\x00\x02"
    assert mbap()(request + b"\x00") == (request, b"\x00")
    assert mbap()(request[:-1]) is None


def test_fixed_length_frames_and_binary_replies(fake_device, connect, Interface):
    dev = fake_device(
        {b"\x01\x02": b"\xaa\xbb\xcc"}, terminator=None, framer=fixed_length(2)
    )
    iface = connect(dev, cls=Interface)
    iface.send(b"\x01")
    iface.send(b"\x02\x01\x02")  # split, then merged with the next one
    assert iface.recv_exactly(6) == b"\xaa\xbb\xcc" * 2
    assert dev.received == [b"\x01\x02"] * 2


def test_mbap_frames_modbus_requests(fake_device, connect, Interface):
    def registers(command, match):
        tid, unit = match.group(1), match.group(2)
        return tid + b"\x00\x00\x00\x07" + unit + b"\x04\x04\x00\x03\x00\x01"

    read = re.compile(rb"(..)\x00\x00\x00\x06(.)\x04\x00\x01\x00\x02", re.S)
    dev = fake_device({read: registers}, terminator=None, framer=mbap())
    iface = connect(dev, cls=Interface)
    request = b"\x00\x07\x00\x00\x00\x06\x01\x04\x00\x01\x00\x02"
    iface.send(request * 2)
    reply = iface.recv_exactly(13)
    assert reply == b"\x00\x07\x00\x00\x00\x07\x01\x04\x04\x00\x03\x00\x01"
    assert iface.recv_exactly(13) == reply
    assert dev.received == [request, request]


def test_transcript_has_times_directions_and_clients(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", name="gauge")
    connect(dev).query(b"PR1")
    kinds = [(e.client, e.kind, e.data) for e in dev.transcript]
    assert kinds == [
        (1, "connected", b""),
        (1, "received", b"PR1"),
        (1, "sent", b"1.2E-3\r\n"),
    ]
    times = [e.time for e in dev.transcript]
    assert times == sorted(times)
    text = dev.transcript_text()
    assert text.splitlines()[0] == f"gauge on 127.0.0.1:{dev.port}"
    assert "#1 <- received b'PR1'" in text


def test_as_received_echoes_bytes_as_they_come(fake_device, connect, Interface):
    dev = fake_device(lambda data: data, terminator=None, framer=as_received())
    iface = connect(dev, cls=Interface)
    iface.send(b"no terminator")
    assert iface.recv_exactly(13) == b"no terminator"


def test_wait_idle_returns_once_owed_replies_are_sent(fake_device, connect):
    dev = fake_device(IDN, terminator=b"\r\n", latency=0.2, chunk=2, chunk_delay=0.01)
    gauge = connect(dev)
    gauge.send(b"PR1\r\n")
    dev.wait_received(1)
    began = time.monotonic()
    dev.wait_idle()
    assert time.monotonic() - began >= 0.15
    assert gauge.pending == 0
    assert gauge.recv_until(timeout=0) == b"1.2E-3\r\n"  # already arrived
    with pytest.raises(TimeoutError):
        fake_device(IDN, latency=5).wait_received(1, timeout=0.05)


def modbus(tid, pdu, unit=1):
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


@pytest.mark.parametrize(
    "request_pdu, response_pdu",
    [
        (b"\x04\x00\x07\x00\x02", b"\x04\x04\x00\xb9\x01\x41"),  # read input
        (b"\x03\x00\x10\x00\x01", b"\x03\x02\x00\x2a"),  # read holding
        (b"\x04\x00\x09\x00\x01", b"\x84\x02"),  # no such register
        (b"\x06\x00\x10\x00\x07", b"\x06\x00\x10\x00\x07"),  # write one
        (b"\x10\x00\x10\x00\x01\x02\x00\x08", b"\x10\x00\x10\x00\x01"),  # write n
        (b"\x2b\x0e\x01\x00", b"\xab\x01"),  # unknown function
    ],
)
def test_modbus_registers_answer_reads_writes_and_exceptions(
    fake_device, connect, Interface, request_pdu, response_pdu
):
    registers = ModbusRegisters({7: 185, 8: 321}, {0x10: 42})
    dev = fake_device(registers, terminator=None, framer=mbap(), chunk=3)
    iface = connect(dev, cls=Interface)
    iface.send(modbus(0x0102, request_pdu, unit=9))
    expected = modbus(0x0102, response_pdu, unit=9)
    assert iface.recv_exactly(len(expected)) == expected
    if request_pdu[0] in (6, 16):
        assert registers.holding[0x10] == request_pdu[-1]
