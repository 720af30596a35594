"""Strict scripts: ``FakeDevice(script=[...])`` expects commands in order.

A driver is run against the script through ``TCPInterface`` on both
backends; what the device makes of it shows at ``stop()``.
"""

import re

import pytest

from socs_tcp import TransportTimeout
from socs_tcp.testing import FakeDevice, Reply, ScriptError
from tests.conftest import BOUND

SUPPLY = [
    (b"*IDN?", b"ACME,PS-1,1.0"),
    (b"VOLT 5", None),
    (b"VOLT?", b"5.000"),
]


@pytest.fixture
def supply(Interface):
    """A device serving ``script`` and a connected interface: ``(dev, iface)``."""
    made = []

    def start(script=SUPPLY, timeout=BOUND, **options):
        dev = FakeDevice(script=script, **options)
        iface = Interface(*dev.address, timeout=timeout)
        made.append((dev, iface))
        return dev, iface

    yield start
    for dev, iface in made:
        iface.close()
        dev.stop(check=False)


def test_commands_in_order_get_the_scripted_replies(supply):
    dev, iface = supply()
    assert iface.query(b"*IDN?") == b"ACME,PS-1,1.0"
    iface.send(b"VOLT 5\n")
    assert iface.query(b"VOLT?") == b"5.000"
    dev.stop()  # every step used, in order: no error


def test_a_command_out_of_order_gets_no_reply_and_fails_stop(supply):
    dev, iface = supply(timeout=0.2)
    assert iface.query(b"*IDN?") == b"ACME,PS-1,1.0"
    with pytest.raises(TransportTimeout):
        iface.query(b"VOLT?")
    message = "received b'VOLT?', expected b'VOLT 5' (step 2 of 3); it is step 3"
    with pytest.raises(ScriptError, match=re.escape(message)):
        dev.stop()


def test_a_command_not_in_the_script_is_named(supply):
    dev, iface = supply()
    iface.send(b"*RST\n")
    dev.wait_received(1)
    message = "received b'*RST', expected b'*IDN?' (step 1 of 3); it is not in"
    with pytest.raises(ScriptError, match=re.escape(message)):
        dev.stop()
    assert "*RST" in dev.transcript_text()  # the error is in the transcript


def test_steps_never_used_fail_stop_unless_ignored(supply):
    dev, iface = supply()
    assert iface.query(b"*IDN?") == b"ACME,PS-1,1.0"
    message = (
        "2 of 3 script steps never came: b'VOLT 5', b'VOLT?' (expected next: "
        'step 2); pass script_unused="ignore"'
    )
    with pytest.raises(ScriptError, match=re.escape(message)):
        dev.stop()
    dev, iface = supply(script_unused="ignore")
    assert iface.query(b"*IDN?") == b"ACME,PS-1,1.0"
    dev.stop()


def test_a_command_after_the_last_step_is_an_error(supply):
    dev, iface = supply(script=[(b"*IDN?", b"ACME")])
    assert iface.query(b"*IDN?") == b"ACME"
    iface.send(b"*IDN?\n")
    dev.wait_received(2)
    with pytest.raises(ScriptError, match="after the script's 1 steps were all used"):
        dev.stop()


def test_regex_callable_and_delayed_steps(supply):
    def echo(command, match):
        return b"set " + match.group(1)

    script = [
        (re.compile(rb"VOLT (\d+)"), echo),
        (b"MEAS?", Reply(b"4.99", delay=0.05)),
    ]
    dev, iface = supply(script=script)
    assert iface.query(b"VOLT 12") == b"set 12"
    assert iface.query(b"MEAS?") == b"4.99"
    dev.stop()


def test_script_steps_span_every_connection(supply, Interface):
    dev, first = supply()
    assert first.query(b"*IDN?") == b"ACME,PS-1,1.0"
    first.send(b"VOLT 5\n")
    dev.wait_received(2)
    with Interface(*dev.address, timeout=BOUND) as second:
        assert second.query(b"VOLT?") == b"5.000"
    dev.stop()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"script": SUPPLY, "responses": {}}, TypeError, "either responses or script"),
        ({"script": SUPPLY, "script_unused": "warn"}, ValueError, "script_unused"),
        ({"script": b"*IDN?"}, TypeError, r"list of \(command, reply\) pairs"),
        ({"script": [b"*IDN?"]}, TypeError, r"script step 1 is b'\*IDN\?'"),
        ({"script": [("*IDN?", b"x")]}, TypeError, r"write b'\*IDN\?'"),
        ({}, TypeError, r"needs responses .* or script="),
        ({"script": SUPPLY, "default": b"ERR"}, TypeError, "no default reply"),
    ],
)
def test_bad_scripts_are_refused_with_what_to_write(kwargs, error, message):
    with pytest.raises(error, match=message):
        FakeDevice(**kwargs)
