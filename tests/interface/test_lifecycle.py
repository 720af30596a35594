"""The connection lifecycle an agent relies on, on both transports:
``on_connect`` (setup replayed on every connection), ``reconnect_backoff``
(attempts spaced out while a device is down) and ``health`` (a frozen
snapshot to publish).
"""

import dataclasses
import time

import pytest

from socs_tcp.errors import NotConnected, TransportTimeout
from tests.conftest import BOUND, port_of

TIMEOUT = 2.0


def ECHO(command):
    return b"re:" + command


class SetupFailed(Exception):
    pass


# -- on_connect --------------------------------------------------------------


def test_on_connect_runs_on_every_connection_before_any_command(Interface, fake_device):
    dev = fake_device(ECHO)

    class Remote(Interface):
        calls = 0

        def on_connect(self):
            type(self).calls += 1
            # The hook may talk to the device: its reply is the hook's.
            assert self.query(b"REMOTE") == b"re:REMOTE"

    with Remote(*dev.address, TIMEOUT) as iface:
        assert Remote.calls == 1
        assert iface.query(b"A") == b"re:A"
        iface.reconnect()
        assert Remote.calls == 2
        assert iface.query(b"B") == b"re:B"
        iface.comm.close()  # gone behind the interface's back
        assert iface.query(b"C") == b"re:C"
        assert Remote.calls == 3
    assert dev.received == [b"REMOTE", b"A", b"REMOTE", b"B", b"REMOTE", b"C"]


def test_a_failing_on_connect_fails_the_attempt_and_is_the_cause(
    Interface, fake_device
):
    dev = fake_device(ECHO)

    class Fussy(Interface):
        fail = True

        def on_connect(self):
            if self.fail:
                raise SetupFailed("remote mode refused")

    iface = Fussy(*dev.address, TIMEOUT)  # never raises
    try:
        assert iface.comm is None and not iface.connected
        health = iface.health
        assert health.state == "never connected"
        assert health.failures == 1
        assert "remote mode refused" in health.last_error
        dev.wait_clients(0)  # the connection the hook failed on was closed
        with pytest.raises(NotConnected) as info:
            iface.send(b"X\n")
        assert isinstance(info.value.__cause__, SetupFailed)
        assert iface.health.failures >= 2
        assert dev.received == []  # nothing went out on a failed connection
        Fussy.fail = False
        assert iface.query(b"Y") == b"re:Y"
        assert iface.health.state == "connected"
        assert iface.health.failures == 0
    finally:
        iface.close()


# -- reconnect_backoff -------------------------------------------------------


def _attempt_times(iface, attempts, seconds, count=None):
    """Call send() every 5 ms for ``seconds`` (or until ``count`` attempts).

    Returns ``attempts``, the times the hook ran. Every call the backoff
    refuses must be refused at once.
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end and (count is None or len(attempts) < count):
        began = time.monotonic()
        before = len(attempts)
        with pytest.raises(NotConnected) as info:
            iface.send(b"X\n")
        if len(attempts) == before:
            assert time.monotonic() - began < 0.05, "a refused call waited"
            assert "next attempt is allowed in" in str(info.value)
        time.sleep(0.005)
    return attempts


@pytest.fixture
def failing(Interface):
    """An interface class whose every connection fails in on_connect."""

    class Failing(Interface):
        def on_connect(self):
            self.attempts.append(time.monotonic())
            raise SetupFailed("no handshake")

    return Failing


def test_backoff_doubles_from_first_to_most_with_jitter_under_20_percent(
    failing, fake_device
):
    dev = fake_device(ECHO)
    attempts = []
    failing.attempts = attempts
    iface = failing(*dev.address, TIMEOUT, reconnect_backoff=(0.1, 0.4))
    try:
        with pytest.raises(NotConnected, match=r"reconnect_backoff=\(0.1, 0.4\)"):
            iface.send(b"X\n")
        _attempt_times(iface, attempts, 2.2)
    finally:
        iface.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    expected = [0.1, 0.2, 0.4, 0.4, 0.4]
    assert len(gaps) >= len(expected), gaps
    for gap, step in zip(gaps, expected + [0.4] * len(gaps)):
        # Jitter shortens a wait by at most 20%; polling adds a little.
        assert 0.8 * step - 0.01 <= gap <= step + 0.15, (gaps, expected)


def test_reconnect_interval_is_the_backoff_s_floor(failing, fake_device):
    dev = fake_device(ECHO)
    attempts = []
    failing.attempts = attempts
    iface = failing(
        *dev.address, TIMEOUT, reconnect_backoff=(0.02, 0.05), reconnect_interval=0.3
    )
    try:
        _attempt_times(iface, attempts, 1.1)
    finally:
        iface.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert len(gaps) >= 2, gaps
    assert all(0.3 - 0.01 <= gap <= 0.3 + 0.15 for gap in gaps), gaps


def test_a_connection_made_resets_the_backoff(failing, fake_device):
    dev = fake_device(ECHO)
    attempts = []
    failing.attempts = attempts
    iface = failing(*dev.address, TIMEOUT, reconnect_backoff=(0.1, 5.0))
    fail = failing.on_connect
    try:
        _attempt_times(iface, attempts, BOUND, count=3)  # waits 0.1, then 0.2
        assert len(attempts) == 3
        failing.on_connect = lambda self: None  # the device accepts setup again
        time.sleep(0.45)
        assert iface.query(b"A") == b"re:A"
        failing.on_connect = fail
        iface.comm.close()
        del attempts[:]
        # Failing again, the waits start over from `first` (not 0.8 s).
        _attempt_times(iface, attempts, BOUND, count=2)
        assert len(attempts) == 2
        assert attempts[1] - attempts[0] <= 0.1 + 0.15
    finally:
        iface.close()


@pytest.mark.parametrize(
    "backoff", [(0, 5), (2, 1), (-1, 1), (1, float("inf")), (1,), "ab", 1]
)
def test_a_bad_backoff_is_refused_before_connecting(Interface, make_peer, backoff):
    peer = make_peer()
    with pytest.raises(ValueError, match="reconnect_backoff"):
        Interface("127.0.0.1", peer.port, TIMEOUT, reconnect_backoff=backoff)
    assert not peer.connections


# -- health ------------------------------------------------------------------


def test_health_is_a_frozen_snapshot_of_a_good_connection(Interface, fake_device):
    dev = fake_device(ECHO)
    before = time.time()
    with Interface(*dev.address, TIMEOUT) as iface:
        health = iface.health
        assert dataclasses.is_dataclass(health)
        with pytest.raises(dataclasses.FrozenInstanceError):
            health.state = "down"
        assert health.state == "connected"
        assert before - 0.01 <= health.since <= time.time()
        assert (health.failures, health.reconnects, health.timeouts) == (0, 0, 0)
        assert health.late_replies_discarded == 0
        assert health.last_error is None
        assert iface.query(b"PING") == b"re:PING"
        after = iface.health
        assert after.bytes_sent >= len(b"PING\n")
        assert after.bytes_received >= len(b"re:PING\n")
        assert health.bytes_sent == 0  # the earlier snapshot did not change


def test_health_counts_timeouts_failures_and_reconnects(Interface, fake_device):
    dev = fake_device({b"SLOW": b"late"}, default=b"ok", latency=0.3)
    with Interface(*dev.address, TIMEOUT) as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"SLOW", timeout=0.05)
        health = iface.health
        assert health.timeouts == 1 and health.failures == 1
        assert "within 0.05 s" in health.last_error
        assert iface.query(b"X") == b"ok"  # resync="reconnect": a new connection
        health = iface.health
        assert health.reconnects == 1
        assert health.failures == 0
        assert health.state == "connected"


def test_health_counts_late_replies_discarded(Interface, fake_device):
    dev = fake_device({b"SLOW": b"late"}, default=b"ok", latency=0.2)
    with Interface(*dev.address, TIMEOUT, resync="clear", resync_quiet=0.4) as iface:
        with pytest.raises(TransportTimeout):
            iface.query(b"SLOW", timeout=0.05)
        assert iface.query(b"X") == b"ok"
        assert iface.health.late_replies_discarded == 1
        assert iface.health.reconnects == 0


def test_health_states_never_connected_down_and_back(Interface, dormant, fake_device):
    iface = Interface("127.0.0.1", port_of(dormant), TIMEOUT)
    health = iface.health
    assert health.state == "never connected"
    assert health.failures == 1 and health.last_error
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        up = iface.health
        iface.close()
        down = iface.health
        assert down.state == "down"
        assert down.since >= up.since
        assert iface.query(b"A") == b"re:A"
        back = iface.health
        assert back.state == "connected" and back.since >= down.since
        assert back.reconnects == 1


def test_health_counts_each_failed_call_once_while_the_device_is_down(
    Interface, fake_device
):
    dev = fake_device(lambda command: b"re:" + command)
    dev.down()
    iface = Interface(*dev.address, TIMEOUT)  # one failed attempt
    try:
        for _ in range(3):  # each call: one attempt, one failure
            with pytest.raises(NotConnected):
                iface.send(b"X\n")
        assert iface.health.failures == 4
    finally:
        iface.close()
