"""The pytest plugin, run in a pytest of its own (``pytester``).

The inner tests get the plugin from the ``pytest11`` entry point, as a user's
project would: their files hold no conftest or import of the plugin.
"""

import pytest

from tests.conftest import BACKENDS, IDS

pytest_plugins = ["pytester"]

GAUGE_TESTS = """
import pytest
from socs_tcp import TCPInterface
from socs_tcp.testing import FakeDevice


class Gauge(TCPInterface):
    read_terminator = write_terminator = b"\\r\\n"


def test_answers(fake_device):
    dev = fake_device({b"PR1": b"1.2E-3"}, terminator=b"\\r\\n")
    gauge = Gauge(*dev.address, timeout=1)
    assert gauge.query(b"PR1") == b"1.2E-3"
    gauge.close()


def test_fails(fake_device):
    dev = fake_device({b"PR1": b"1.2E-3"}, terminator=b"\\r\\n", name="gauge")
    gauge = Gauge(*dev.address, timeout=1)
    reply = gauge.query(b"PR1")
    gauge.close()
    assert reply == b"9.9E-9"


def test_fails_with_a_device_of_its_own():
    with FakeDevice({b"PR1": b"1.2E-3"}, name="own") as dev:
        with Gauge(*dev.address, timeout=1) as gauge:
            assert gauge.query(b"PR2") == b"1.2E-3"
"""


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_fixture_is_available_and_a_failure_shows_the_transcript(
    pytester, monkeypatch, backend
):
    monkeypatch.setenv("SOCS_TCP_BACKEND", backend)
    pytester.makepyfile(test_gauge=GAUGE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*fake device transcript (call)*",
            "gauge on 127.0.0.1:*",
            "*#1 -- connected*",
            "*#1 <- received b'PR1'",
            "*#1 -> sent     b'1.2E-3\\r\\n'",
            "*fake device transcript (call)*",
            "own on 127.0.0.1:*",
            "*#1 <- received b'PR2\\r'",  # the terminators do not agree
        ]
    )
    # The passing test's transcript is not shown.
    assert result.stdout.str().count("fake device transcript") == 2


def test_devices_are_stopped_at_teardown_and_callable_errors_fail_it(pytester):
    pytester.makepyfile(
        """
        import socket
        import threading

        KEPT = []

        def broken(command):
            raise ValueError("bad register")

        def test_start(fake_device):
            KEPT.append(fake_device({}))
            dev = fake_device(broken)
            with socket.create_connection(dev.address, timeout=2) as sock:
                sock.sendall(b"R1\\n")
                dev.wait_received(1)

        def test_stopped():
            assert not KEPT[0].running
            assert threading.active_count() == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ValueError: bad register*"])


def test_devices_under_xdist_never_share_a_port(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import socket
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_own_device(fake_device, n):
            dev = fake_device({b"N?": b"%d" % n})
            with socket.create_connection(dev.address, timeout=2) as sock:
                sock.sendall(b"N?\\n")
                assert sock.recv(16) == b"%d\\n" % n
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
