"""Multi-step exchanges: ``with iface.transaction():``.

Both transports, against FakeDevice: a Pfeiffer-style gauge controller that
acknowledges a command (ACK) and sends its data only when asked (ENQ).
"""

import threading
import time

import pytest

from socs_tcp import NotConnected
from socs_tcp.testing import FakeDevice
from tests.conftest import BOUND

ACK, ENQ = b"\x06", b"\x05"


def pfeiffer_framer(buffer):
    """Mnemonics end in CR LF; an ENQ is one byte of its own."""
    if buffer[:1] == ENQ:
        return ENQ, buffer[1:]
    end = buffer.find(b"\r\n")
    return None if end < 0 else (buffer[:end], buffer[end + 2 :])


class Maxigauge:
    """The controller's side: ``PR<n>`` selects a channel, ENQ reads it."""

    def __init__(self):
        self.selected = None

    def __call__(self, command):
        if command == ENQ:
            if self.selected is None:
                return b"\x15\r\n"  # NAK: nothing was asked for
            return b"0,%d.0000E-03\r\n" % self.selected
        if command.startswith(b"PR"):
            self.selected = int(command[2:])
            return ACK + b"\r\n"
        return b"\x15\r\n"


@pytest.fixture
def maxigauge(Interface):
    """``(iface, device)``: an interface to the controller, CR LF both ways."""

    class TPG(Interface):
        read_terminator = b"\r\n"
        write_terminator = b"\r\n"

    with FakeDevice(
        Maxigauge(), terminator=None, framer=pfeiffer_framer, latency=0.002
    ) as device:
        with TPG(*device.address, BOUND) as iface:
            yield iface, device


def pressure(iface, channel):
    """The four steps: command, ACK, ENQ, reply; no other command in between."""
    with iface.transaction():
        iface.query(b"PR%d" % channel, expect=ACK)
        iface.send(ENQ)
        status, value = iface.recv_until().split(b",")
    return float(value)


def test_two_threads_doing_ack_enq_exchanges_never_interleave(maxigauge):
    iface, device = maxigauge
    got = {1: [], 2: []}
    errors = []

    def poll(channel):
        try:
            for _ in range(25):
                got[channel].append(pressure(iface, channel))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(c,)) for c in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * BOUND)
        assert not thread.is_alive()
    assert errors == []
    assert got == {1: [1e-3] * 25, 2: [2e-3] * 25}
    # On the wire, every command is followed by its own ENQ.
    commands = device.received
    assert len(commands) == 100
    assert all(enq == ENQ for enq in commands[1::2])


def test_a_transaction_holds_off_other_threads_commands(maxigauge):
    iface, device = maxigauge
    results = []
    other = threading.Thread(target=lambda: results.append(iface.query(b"PR2")))
    with iface.transaction():
        iface.query(b"PR1", expect=ACK)
        other.start()
        time.sleep(0.2)
        assert other.is_alive() and device.received == [b"PR1"]
        iface.send(ENQ)
        assert iface.recv_until() == b"0,1.0000E-03\r\n"
    other.join(BOUND)
    assert results == [ACK]
    assert device.received == [b"PR1", ENQ, b"PR2"]


def test_transactions_are_re_entrant(maxigauge):
    iface, _ = maxigauge
    done = []

    def nested():
        with iface.transaction() as outer:
            assert outer is iface
            with iface.transaction():
                done.append(pressure(iface, 3))
            done.append(pressure(iface, 4))

    thread = threading.Thread(target=nested)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive(), "a nested transaction deadlocked"
    assert done == [3e-3, 4e-3]
    # And the lock is free again for another thread.
    other = threading.Thread(target=lambda: done.append(pressure(iface, 5)))
    other.start()
    other.join(BOUND)
    assert done[-1] == 5e-3


def test_an_exception_inside_releases_the_lock(maxigauge):
    iface, _ = maxigauge
    with pytest.raises(RuntimeError), iface.transaction():
        raise RuntimeError("driver bug")
    done = []
    other = threading.Thread(target=lambda: done.append(pressure(iface, 1)))
    other.start()
    other.join(BOUND)
    assert done == [1e-3]


@pytest.mark.parametrize(
    "step", ["recv_until", "query", "query_quiet", "query_block", "query_values"]
)
def test_close_from_another_thread_ends_a_transaction_at_once(Interface, step):
    with FakeDevice({b"WAIT?": None, b"T?": b"21.5"}) as device:
        iface = Interface(*device.address, BOUND)
        waiting = threading.Event()
        outcome = []

        def worker():
            with iface.transaction():
                try:
                    if step == "recv_until":
                        iface.send(b"WAIT?\n")
                        waiting.set()
                        iface.recv_until()
                    else:
                        waiting.set()
                        args = (0.1,) if step == "query_quiet" else ()
                        getattr(iface, step)(b"WAIT?", *args)
                except Exception as exc:
                    outcome.append((exc, time.monotonic()))

        thread = threading.Thread(target=worker)
        try:
            thread.start()
            assert waiting.wait(BOUND)
            device.wait_received(1)
            time.sleep(0.05)  # the worker is blocked in its receive
            start = time.monotonic()
            iface.close()  # does not wait for the transaction's lock
            closed = time.monotonic()
            thread.join(BOUND)
            assert not thread.is_alive()
            assert closed - start < 0.5
            ((error, ended),) = outcome
            assert isinstance(error, NotConnected)
            assert ended - start < 1.0
            # A later call connects again.
            assert iface.query(b"T?") == b"21.5"
        finally:
            iface.close()
            thread.join(BOUND)
