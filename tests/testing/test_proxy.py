"""``Proxy``: a driver talks to a "real" device (a FakeDevice) through it.

The driver is ``TCPInterface`` on both backends, or a plain socket where
the test needs a half-close or to see a reset; every connection is real.
"""

import os
import socket
import threading
import time

import pytest

from socs_tcp import TransportTimeout
from socs_tcp.testing import FakeDevice, Proxy, load_dialogue
from socs_tcp.testing.recording import Recording
from tests.conftest import BOUND

GAUGE = {
    b"*IDN?": b"ACME,PG-105,1.0",
    b"TLC?": [b"0", b"1", b"2"],
    b"RAW?": b"\x00\x01\xfe\xff",
    b"*RST": None,
}


@pytest.fixture
def real():
    """The "real" device: a FakeDevice with CR LF framing."""
    with FakeDevice(GAUGE, terminator=b"\r\n", name="real gauge") as dev:
        yield dev


@pytest.fixture
def proxied(real, Interface):
    """Start a proxy in front of ``real`` and a connected driver to it."""
    made = []

    def start(timeout=BOUND, **options):
        proxy = Proxy(real.address, terminator=b"\r\n", **options)
        gauge = type(
            "Gauge",
            (Interface,),
            {"read_terminator": b"\r\n", "write_terminator": b"\r\n"},
        )(*proxy.address, timeout=timeout)
        made.append((proxy, gauge))
        return proxy, gauge

    yield start
    for proxy, gauge in made:
        gauge.close()
        proxy.stop(check=False)


def test_traffic_is_forwarded_unchanged(real, proxied):
    proxy, gauge = proxied()
    assert gauge.query(b"*IDN?") == b"ACME,PG-105,1.0"
    assert [gauge.query(b"TLC?") for _ in range(3)] == [b"0", b"1", b"2"]
    assert gauge.query(b"RAW?") == b"\x00\x01\xfe\xff"
    gauge.send(b"*RST\r\n")
    assert gauge.query(b"*IDN?") == b"ACME,PG-105,1.0"
    assert real.received == [b"*IDN?"] + [b"TLC?"] * 3 + [b"RAW?", b"*RST", b"*IDN?"]
    assert proxy.received == real.received


def test_the_recording_replays_as_the_device_answered(
    real, proxied, tmp_path, Interface
):
    record = tmp_path / "gauge.toml"
    proxy, gauge = proxied(record=record)
    gauge.query(b"*IDN?")
    [gauge.query(b"TLC?") for _ in range(3)]
    gauge.query(b"RAW?")
    gauge.send(b"*RST\r\n")
    gauge.query(b"*IDN?")
    gauge.close()
    proxy.stop()
    text = record.read_text()
    assert f"# recorded from 127.0.0.1:{real.port}" in text
    assert 'command = "TLC?"\nreplies = ["0", "1", "2"]' in text
    assert 'command = "RAW?"\nhex = "00 01 fe ff"' in text
    assert 'command = "*RST"\nsilent = true' in text
    assert text.count('command = "*IDN?"') == 1
    dialogue = load_dialogue(record)
    with dialogue.device() as replay:
        driver = Interface(*replay.address, timeout=BOUND)
        driver.read_terminator = driver.write_terminator = b"\r\n"
        with driver:
            assert driver.query(b"*IDN?") == b"ACME,PG-105,1.0"
            assert [driver.query(b"TLC?") for _ in range(4)] == [b"0", b"1", b"2", b"2"]
            assert driver.query(b"RAW?") == b"\x00\x01\xfe\xff"
            driver.send(b"*RST\r\n")
            with pytest.raises(TransportTimeout):
                driver.query(b"UNKNOWN", timeout=0.1)


def test_every_byte_of_a_command_survives_the_recording(tmp_path):
    command = bytes(b for b in range(256) if b != 10)
    recording = Recording("test", "bytes", b"\n", b"\n")
    recording.command(command).append(b"ok")
    recording.command(b"BIN?").append(bytes(range(256)))
    recording.save(tmp_path / "bytes.toml")
    dialogue = load_dialogue(tmp_path / "bytes.toml")
    assert dialogue.responses == [(command, b"ok"), (b"BIN?", bytes(range(256)))]


def test_a_reply_terminator_of_its_own_is_recorded(tmp_path, Interface):
    record = tmp_path / "lf-crlf.toml"
    with FakeDevice({b"V?": b"1.5"}, reply_terminator=b"\r\n") as dev:
        with Proxy(dev.address, reply_terminator=b"\r\n", record=record) as proxy:
            with Interface(*proxy.address, timeout=BOUND) as iface:
                assert iface.query(b"V?", terminator=b"\r\n") == b"1.5"
    options = load_dialogue(record).options
    assert (options["terminator"], options["reply_terminator"]) == (b"\n", b"\r\n")
    with load_dialogue(record).device() as replay:
        with Interface(*replay.address, timeout=BOUND) as iface:
            assert iface.query(b"V?", terminator=b"\r\n") == b"1.5"


def test_latency_delays_each_forwarded_reply(proxied):
    proxy, gauge = proxied(latency=0.3)
    began = time.monotonic()
    assert gauge.query(b"*IDN?") == b"ACME,PG-105,1.0"
    assert time.monotonic() - began >= 0.29
    with pytest.raises(TransportTimeout):
        gauge.query(b"*IDN?", timeout=0.1)


def test_chunk_and_garbage_apply_to_forwarded_replies(proxied):
    proxy, gauge = proxied(chunk=4, chunk_delay=0.01)
    assert gauge.query(b"*IDN?") == b"ACME,PG-105,1.0"
    sent = [event.data for event in proxy.transcript if event.kind == "sent"]
    assert sent == [b"ACME", b",PG-", b"105,", b"1.0\r", b"\n"]
    proxy.inject(garbage=b"#")
    assert gauge.query(b"TLC?") == b"#0"


def test_drop_after_closes_the_client_after_n_replies(proxied):
    proxy, gauge = proxied(drop_after=2)
    assert gauge.query(b"TLC?") == b"0"
    assert gauge.query(b"TLC?") == b"1"
    proxy.wait_clients(0)
    assert gauge.recv() == b""  # the driver sees the close...
    assert gauge.query(b"TLC?") == b"2"  # ...and reconnects
    assert proxy.connections == 2


def test_drop_rst_resets_instead_of_forwarding(real):
    with Proxy(real.address, terminator=b"\r\n", drop="rst") as proxy:
        with socket.create_connection(proxy.address, timeout=BOUND) as sock:
            sock.sendall(b"*IDN?\r\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(64)
    assert real.received == []  # never forwarded


def test_idle_close_drops_a_quiet_client(proxied):
    proxy, gauge = proxied(idle_close=0.2)
    assert gauge.query(b"*IDN?") == b"ACME,PG-105,1.0"
    proxy.wait_clients(0)
    assert proxy.transcript[-1].kind == "dropped"


def read_to_end(sock):
    sock.settimeout(BOUND)
    data = b""
    while more := sock.recv(4096):
        data += more
    return data


def test_a_half_closed_client_gets_its_replies_through_the_proxy(real):
    with Proxy(real.address, terminator=b"\r\n", latency=0.05) as proxy:
        with socket.create_connection(proxy.address, timeout=BOUND) as sock:
            sock.sendall(b"*IDN?\r\nTLC?\r\n")
            sock.shutdown(socket.SHUT_WR)
            assert read_to_end(sock) == b"ACME,PG-105,1.0\r\n0\r\n"


def test_the_device_closing_reaches_the_client(real):
    with Proxy(real.address, terminator=b"\r\n") as proxy:
        with socket.create_connection(proxy.address, timeout=BOUND) as sock:
            real.wait_clients(1)
            real.down("fin")
            assert read_to_end(sock) == b""


def test_the_device_resetting_resets_the_client(real):
    with Proxy(real.address, terminator=b"\r\n") as proxy:
        with socket.create_connection(proxy.address, timeout=BOUND) as sock:
            real.wait_clients(1)
            real.down("rst")
            sock.settimeout(BOUND)
            with pytest.raises(ConnectionResetError):
                sock.recv(64)


def test_a_device_that_cannot_be_reached_resets_the_client():
    with FakeDevice({}) as gone:
        address = gone.address
    with Proxy(address) as proxy:
        # The reset can come before connect() returns, or at the first read.
        with pytest.raises(ConnectionResetError):
            with socket.create_connection(proxy.address, timeout=BOUND) as sock:
                read_to_end(sock)
        errors = [e for e in proxy.transcript if e.kind == "error"]
        assert b"cannot connect to 127.0.0.1:" in errors[0].data


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_thread_or_descriptor(real, Interface):
    threads, fds = threading.active_count(), open_fds()
    proxy = Proxy(real.address, terminator=b"\r\n", latency=10)
    with socket.create_connection(proxy.address, timeout=BOUND) as sock:
        sock.sendall(b"*IDN?\r\n")
        proxy.wait_received(1)
        real.wait_received(1)
        proxy.stop()
        assert read_to_end(sock) == b""
    real.wait_clients(0)
    assert threading.active_count() == threads
    assert open_fds() == fds


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("127.0.0.1:5025",), {}, r"target must be \(host, port\)"),
        ((("127.0.0.1", 5025),), {"terminator": b""}, "frames commands by a term"),
        ((("127.0.0.1", 5025),), {"latancy": 1}, "unknown fault latancy"),
    ],
)
def test_bad_arguments_say_what_to_write(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Proxy(*args, **kwargs)


@pytest.mark.parametrize("seconds", [0, -1, 4.5, True, "2"])
def test_a_connect_timeout_the_thread_cannot_afford_is_refused(real, seconds):
    with pytest.raises(ValueError, match="connect_timeout must be seconds above 0"):
        Proxy(real.address, connect_timeout=seconds)


def test_a_device_name_that_does_not_resolve_is_refused_at_once():
    with pytest.raises(OSError, match="cannot find nosuch.invalid:5025"):
        Proxy(("nosuch.invalid", 5025))
