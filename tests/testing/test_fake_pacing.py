"""FakeDevice as an instrument paces and ends a conversation.

Half-closed clients get every reply, commands are handled one at a time
(with per-reply delays), a device that failed still cleans up when stopped,
and what it keeps of long runs is bounded. The client side is a plain
socket (a half-close cannot be made through ``TCPInterface``) or the
interface on both backends.
"""

import os
import socket
import threading
import time
import tracemalloc

import pytest

from socs_tcp.testing import FakeDevice, Reply, load_dialogue
from socs_tcp.testing.dialogue import shipped_dialogues
from tests.conftest import BOUND


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def read_to_end(sock):
    """Everything ``sock`` receives until the device closes its side."""
    sock.settimeout(BOUND)
    chunks = []
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def half_close_and_read(dev, commands):
    """Send ``commands``, close the sending side, return all that comes back."""
    with socket.create_connection(dev.address, timeout=BOUND) as sock:
        sock.sendall(commands)
        sock.shutdown(socket.SHUT_WR)
        return read_to_end(sock)


def refused(address):
    try:
        socket.create_connection(address, timeout=BOUND).close()
    except ConnectionRefusedError:
        return True
    return False


# -- 1. a client that half-closes still gets its replies ---------------------


def test_a_half_closed_client_gets_a_reply_held_back_by_latency():
    with FakeDevice({b"A?": b"a"}, latency=0.1) as dev:
        assert half_close_and_read(dev, b"A?\n") == b"a\n"


def test_a_half_closed_client_gets_every_reply_of_a_shipped_dialogue():
    dialogue = load_dialogue(shipped_dialogues()["scpi_gauge"])
    commands = b"".join(b"PR%d\r\n" % (n % 6 + 1) for n in range(24))
    with dialogue.device() as dev:
        replies = half_close_and_read(dev, commands)
    assert replies.split(b"\r\n")[:-1] == [
        b"%d,1.25E-3" % (n % 6 + 1) for n in range(24)
    ]


def test_a_half_closed_client_gets_all_of_a_16_mib_reply():
    big = bytes(range(256)) * (1 << 16)  # 16 MiB
    with FakeDevice({b"DUMP?": big}) as dev:
        reply = half_close_and_read(dev, b"DUMP?\n")
    assert len(reply) == len(big) + 1
    assert reply == big + b"\n"


# -- 3. stop() cleans up after a failure -------------------------------------


def test_stop_cleans_up_after_a_framer_raised():
    def broken(buffer):
        raise ValueError("cannot frame")

    threads, fds = threading.active_count(), open_fds()
    dev = FakeDevice({}, terminator=None, framer=broken)
    with socket.create_connection(dev.address, timeout=BOUND) as sock:
        sock.sendall(b"\x01\x02")
        assert read_to_end(sock) == b""  # dropped at once, not left waiting
    with pytest.raises(ValueError, match="cannot frame"):
        dev.stop()
    assert refused(dev.address)
    assert threading.active_count() == threads
    assert open_fds() == fds


def test_a_response_that_stops_the_device_leaves_nothing_behind():
    threads, fds = threading.active_count(), open_fds()
    devices = []

    def shut_down(command):
        devices[0].stop()
        return b"bye"

    dev = FakeDevice(shut_down)
    devices.append(dev)
    with socket.create_connection(dev.address, timeout=BOUND) as sock:
        sock.sendall(b"OFF\n")
        read_to_end(sock)  # the device closes the connection by itself
    dev.stop()  # no "cannot join current thread" recorded, nothing raised
    assert dev.errors == []
    assert not dev.running
    assert refused(dev.address)
    assert threading.active_count() == threads
    assert open_fds() == fds


# -- 5. a bounded transcript, and send() waits for a slow reader -------------


def test_the_transcript_keeps_the_last_events_and_counts_them_all():
    with FakeDevice({b"N?": b"1"}, history=50) as dev:
        commands = b"".join(b"N?\n" for _ in range(120)) + b"LAST\n"
        half_close_and_read(dev, commands)
        dev.wait_clients(0)
    assert len(dev.transcript) == 50
    assert dev.transcript[-1].kind == "closed"
    assert dev.received == [b"N?"] * 49 + [b"LAST"]
    assert dev.counts["received"] == 121
    assert dev.counts["sent"] == 120
    assert (dev.counts["connected"], dev.counts["closed"]) == (1, 1)


def test_the_transcript_keeps_only_the_head_of_a_large_reply():
    big = b"x" * (1 << 20)
    with FakeDevice({b"DUMP?": big}) as dev:
        half_close_and_read(dev, b"DUMP?\n")
    (sent,) = [event for event in dev.transcript if event.kind == "sent"]
    assert sent.size == len(big) + 1
    assert len(sent.data) <= 4096
    assert "(1048577 bytes)" in str(sent)


@pytest.mark.parametrize("history", [0, -1, 1.5, True])
def test_a_history_below_one_is_refused(history):
    with pytest.raises(ValueError, match="history must be an int >= 1"):
        FakeDevice({}, history=history)


def test_send_waits_for_a_client_that_does_not_read():
    piece = b"y" * (1 << 18)
    with FakeDevice({}) as dev:
        with socket.create_connection(dev.address, timeout=BOUND) as sock:
            dev.wait_clients(1)
            pushed = 0
            with pytest.raises(TimeoutError, match="did not read what send"):
                while pushed < 64 << 20:  # a device without backpressure
                    dev.send(piece, timeout=0.2)
                    pushed += len(piece)
            # What was refused stays queued: nothing pushed is lost.
            pushed += len(piece)
            got = 0
            while got < pushed:
                got += len(sock.recv(1 << 20))
            assert got == pushed
            assert dev.send(b"end", timeout=BOUND) == 1
            assert sock.recv(16) == b"end"


def test_traffic_read_in_full_leaves_no_memory_behind():
    piece, pieces = b"z" * (1 << 20), 32
    with FakeDevice({}) as dev:
        with socket.create_connection(dev.address, timeout=BOUND) as sock:
            dev.wait_clients(1)
            got = []

            def read_all():
                total = 0
                while total < len(piece) * pieces:
                    total += len(sock.recv(1 << 20))
                got.append(total)

            reader = threading.Thread(target=read_all)
            reader.start()
            tracemalloc.start()
            try:
                for number in range(pieces):  # each one a new object
                    dev.send(b"%c" % (number + 65) * len(piece), timeout=BOUND)
                reader.join(BOUND)
                dev.wait_idle()
                held, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert got == [len(piece) * pieces]
    assert held < 4 << 20  # 32 MiB went through


def test_a_response_may_push_more_than_a_send_buffer_itself():
    devices = []

    def dump(command):
        devices[0].send(b"d" * (16 << 20))  # must not wait for its own loop
        return b"done"

    with FakeDevice(dump) as dev:
        devices.append(dev)
        reply = half_close_and_read(dev, b"DUMP\n")
    assert reply == b"d" * (16 << 20) + b"done\n"


# -- 6. a short report -------------------------------------------------------


def test_transcript_text_shows_the_last_events_and_counts_the_rest():
    with FakeDevice({b"N?": b"1"}, name="poller") as dev:
        half_close_and_read(dev, b"N?\n" * 100)
        dev.wait_clients(0)
    text = dev.transcript_text().splitlines()
    assert text[0] == f"poller on 127.0.0.1:{dev.port}"
    assert text[1] == (
        "... 162 earlier events not shown (202 in all: 1 closed, 1 connected, "
        "100 received, 100 sent)"
    )
    assert len(text) == 2 + 40
    assert text[-1].endswith("#1 -- closed")
    assert len(dev.transcript_text(last=5).splitlines()) == 2 + 5
    assert len(dev.transcript_text(last=None).splitlines()) == 1 + 202


# -- 7. one command at a time ------------------------------------------------


def arrivals(dev, commands, count, terminator=b"\n"):
    """Seconds after sending ``commands`` at which each of ``count`` replies ends."""
    times, buffer = [], b""
    with socket.create_connection(dev.address, timeout=BOUND) as sock:
        began = time.monotonic()
        sock.sendall(commands)
        while len(times) < count:
            data = sock.recv(4096)
            assert data, "the device closed the connection"
            buffer += data
            while terminator in buffer:
                _, _, buffer = buffer.partition(terminator)
                times.append(time.monotonic() - began)
    return times


def test_commands_sent_at_once_are_answered_one_after_another():
    with FakeDevice({b"A?": b"a"}, latency=0.2) as dev:
        times = arrivals(dev, b"A?\n" * 5, 5)
    for number, at in enumerate(times, 1):
        assert at >= 0.2 * number - 0.01, times


def test_a_reply_delay_holds_back_that_reply_and_the_ones_after_it(Interface):
    responses = {b"MEAS?": Reply(b"5.0", delay=0.3), b"ID?": b"ACME"}
    with FakeDevice(responses) as dev:
        times = arrivals(dev, b"MEAS?\nID?\n", 2)
        assert times[0] >= 0.29 and times[1] >= times[0]
        with Interface(*dev.address, timeout=BOUND) as iface:
            began = time.monotonic()
            assert iface.query(b"MEAS?") == b"5.0"
            assert time.monotonic() - began >= 0.29
            assert iface.query(b"ID?") == b"ACME"


def test_a_reply_delay_must_be_seconds():
    with pytest.raises(ValueError, match="Reply delay must be seconds >= 0"):
        Reply(b"x", delay=-1)
    with pytest.raises(TypeError, match="Reply data must be bytes"):
        Reply("x")
