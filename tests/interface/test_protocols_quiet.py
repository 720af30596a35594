"""Replies that end in silence (recv_quiet, query_quiet) and prompt devices.

Both transports, against FakeDevice and raw loopback peers.
"""

import select
import socket
import threading
import time

import pytest

from socs_tcp import FrameTooLong, IncompleteRead, TransportTimeout
from socs_tcp.testing import FakeDevice, Reply
from tests.conftest import BOUND

LISTING = b"CH1 ON 1.25\r\nCH2 OFF 0.00\r\nCH3 ON 7.50\r\n"


def lines(count):
    """What the chatty device sends: numbered lines, in order."""
    return b"".join(b"%05d\n" % i for i in range(count))


@pytest.fixture
def chatty(make_peer):
    """A device that talks every 5 ms and never falls silent."""
    stop = threading.Event()

    def device(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count = 0
        while not stop.is_set():
            conn.sendall(b"%05d\n" % count)
            count += 1
            stop.wait(0.005)

    yield make_peer(device)
    stop.set()


def wait_arrived(iface):
    """Block (bounded) until the device's bytes are in the socket."""
    assert select.select([iface.comm], [], [], BOUND)[0], "nothing arrived in time"


def test_a_multi_line_reply_in_pieces_is_one_call(Interface):
    with FakeDevice({b"LIST?": LISTING}, chunk=5, chunk_delay=0.02) as device:
        with Interface(*device.address, BOUND) as iface:
            start = time.monotonic()
            # The pieces come 20 ms apart: far shorter than idle, one reply.
            assert iface.query_quiet(b"LIST?", 0.3) == LISTING + b"\n"
            assert time.monotonic() - start >= 0.3  # it waited for the silence
            assert iface.pending == 0


def test_recv_quiet_returns_buffered_bytes_first(Interface, make_peer):
    def device(conn):
        conn.sendall(b"one\ntwo\n")
        time.sleep(0.05)
        conn.sendall(b"three\n")
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        assert iface.recv_until() == b"one\n"
        assert iface.recv_quiet(0.3) == b"two\nthree\n"


def test_it_waits_past_idle_for_the_first_byte(Interface):
    with FakeDevice({b"MEAS?": Reply(b"4.2", delay=0.3)}) as device:
        with Interface(*device.address, BOUND) as iface:
            start = time.monotonic()
            assert iface.query_quiet(b"MEAS?", 0.05) == b"4.2\n"
            assert time.monotonic() - start >= 0.3


def test_nothing_at_all_is_a_timeout(Interface):
    with FakeDevice({b"MEAS?": None}) as device:
        with Interface(*device.address, 0.2) as iface:
            iface.send(b"MEAS?\n")
            start = time.monotonic()
            with pytest.raises(TransportTimeout) as info:
                iface.recv_quiet(0.05)  # the interface's timeout: 0.2 s
            assert 0.15 < time.monotonic() - start < 1.0
            assert info.value.partial == b""
            with pytest.raises(TransportTimeout):
                iface.recv_quiet(0.05, timeout=0.1)


def test_the_timeout_bounds_the_call_on_a_device_that_never_pauses(Interface, chatty):
    with Interface("127.0.0.1", chatty.port, BOUND) as iface:
        start = time.monotonic()
        with pytest.raises(TransportTimeout, match="did not fall silent") as info:
            # idle is 60 times the device's pauses: it never gets that.
            iface.recv_quiet(0.3, timeout=0.8)
        assert 0.75 < time.monotonic() - start < 1.5
        partial = info.value.partial
        # What came is kept, in order, and a read continues it.
        assert partial and partial == lines(len(partial) // 6 + 1)[: len(partial)]
        assert iface.pending == len(partial)
        more = len(partial) + 60
        assert iface.recv_exactly(more) == lines(more // 6 + 1)[:more]


def test_max_size_without_a_pause_keeps_the_bytes(Interface, chatty):
    with Interface("127.0.0.1", chatty.port, BOUND) as iface:
        with pytest.raises(FrameTooLong, match="max_size=60") as info:
            iface.recv_quiet(0.5, max_size=60)
        assert info.value.partial == lines(10)
        assert iface.pending >= 60
        assert iface.recv_exactly(120) == lines(20)


def test_a_device_that_closes_mid_reply_leaves_what_it_sent(Interface, make_peer):
    def device(conn):
        conn.sendall(b"CH1 ON\r\nCH2")
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)

    peer = make_peer(device)
    with Interface("127.0.0.1", peer.port, BOUND) as iface:
        with pytest.raises(IncompleteRead) as info:
            iface.recv_quiet(0.1)
        assert info.value.partial == b"CH1 ON\r\nCH2"
        assert iface.recv(100) == b"CH1 ON\r\nCH2"
        assert iface.recv(100) == b""  # then the end, as socs's recv says it


def test_query_quiet_drops_stale_input_before_sending(Interface):
    with FakeDevice({b"LIST?": LISTING}) as device:
        with Interface(*device.address, BOUND) as iface:
            device.send(b"ALARM 3\r\n")  # unsolicited
            wait_arrived(iface)
            assert iface.query_quiet(b"LIST?", 0.1) == LISTING + b"\n"
            # clear=False keeps what came before the command.
            device.send(b"ALARM 4\r\n")
            wait_arrived(iface)
            reply = iface.query_quiet(b"LIST?", 0.1, clear=False)
            assert reply == b"ALARM 4\r\n" + LISTING + b"\n"


@pytest.mark.parametrize("pause", [0.0, 0.5], ids=["not-yet", "arrived"])
def test_a_late_reply_is_never_taken_for_the_next_ones(Interface, pause):
    responses = {b"LIST?": Reply(LISTING, delay=0.3), b"*IDN?": b"ACME"}
    with FakeDevice(responses) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(TransportTimeout):
                iface.query_quiet(b"LIST?", 0.05, timeout=0.1)
            time.sleep(pause)
            assert iface.query_quiet(b"*IDN?", 0.1, clear=False) == b"ACME\n"
            with pytest.raises(TransportTimeout):
                iface.query_quiet(b"LIST?", 0.05, timeout=0.1)
            time.sleep(pause)
            assert iface.query(b"*IDN?", clear=False) == b"ACME"


def test_a_late_reply_arriving_line_by_line_is_never_taken_for_the_next(
    Interface,
):
    # The late listing's first line has come, whole, when the next query
    # starts: whole lines do not say the listing is over.
    responses = {b"LIST?": Reply(LISTING, delay=0.2), b"*IDN?": b"ACME\r\n"}
    with FakeDevice(
        responses, reply_terminator=b"", chunk=13, chunk_delay=0.5
    ) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(TransportTimeout):
                iface.query_quiet(b"LIST?", 0.05, timeout=0.1)
            wait_arrived(iface)
            assert iface.query(b"*IDN?", terminator=b"\r\n") == b"ACME"


@pytest.mark.parametrize(
    "args, error",
    [
        (("LIST?", 0.1), TypeError),
        ((b"LIST?", 0), ValueError),
        ((b"LIST?", -1.0), ValueError),
        ((b"LIST?", "0.1"), TypeError),
    ],
)
def test_query_quiet_checks_its_arguments_before_sending(Interface, args, error):
    with FakeDevice({b"LIST?": LISTING}) as device:
        with Interface(*device.address, BOUND) as iface:
            with pytest.raises(error):
                iface.query_quiet(*args)
            with pytest.raises(ValueError, match="idle"):
                iface.recv_quiet(0.0)
            assert iface.query_quiet(b"LIST?", 0.1) == LISTING + b"\n"
            assert device.received == [b"LIST?"]  # the bad call sent nothing


# -- prompt devices -----------------------------------------------------------


def test_a_prompt_ends_the_reply_with_no_wait(Interface):
    # DLC smart style: the reply, then the prompt "> ", cut at every byte.
    responses = {b"wl?": b"1550.12\n", b"cmp?": b"a>b, c> d\n"}
    with FakeDevice(responses, reply_terminator=b"> ", chunk=1) as device:
        with Interface(*device.address, BOUND) as iface:
            for _ in range(3):
                start = time.monotonic()
                assert iface.query(b"wl?", terminator=b"> ") == b"1550.12\n"
                assert time.monotonic() - start < 1.0
            # The prompt is two bytes: "> " inside a reply ends it; ">" does not.
            assert iface.query(b"cmp?", terminator=b"> ") == b"a>b, c"
            assert iface.recv_until(b"> ") == b"d\n> "
            assert iface.pending == 0


def test_a_colon_prompt_device_as_a_driver_class(Interface):
    # Galil style: commands end in CR, every reply in ":" (nothing else for a
    # command without output).
    class Galil(Interface):
        read_terminator = b":"
        write_terminator = b"\r"

    responses = {b"MG _TPA": b" 1234.0000\r\n", b"SH AB": b""}
    with FakeDevice(responses, terminator=b"\r", reply_terminator=b":") as device:
        with Galil(*device.address, BOUND) as galil:
            assert galil.query(b"SH AB") == b""
            assert float(galil.query(b"MG _TPA")) == 1234.0
            assert device.received == [b"SH AB", b"MG _TPA"]
