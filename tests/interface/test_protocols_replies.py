"""Replies that must match (query(expect=...)) and lists of numbers (query_values).

Both transports, against FakeDevice.
"""

import decimal
import re

import pytest

from socs_tcp import ReplyMismatch
from socs_tcp.testing import FakeDevice
from tests.conftest import BOUND

NUMBER = re.compile(rb"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")


@pytest.fixture
def gauge(Interface):
    """An interface to a gauge that sometimes answers out of turn."""
    responses = {
        b"P?": b"1.25E-3",
        b"T?": b"21.5",
        b"X?": b"ERR -113, undefined header",
        b"LATE?": b"WARN overtemp\n1.0E-3",  # an extra line before the reply
        b"ID?": b"OK,ACME,3.2",
        b"V?": b"1.0, 2.5E-3 ,-4,5e2",
        b"H?": b"1f;ff;0",
        b"BAD?": b"1.0,abc,3",
        b"NONE?": b"",
    }
    with FakeDevice(responses) as device:
        with Interface(*device.address, BOUND) as iface:
            yield iface, device


# -- expect -------------------------------------------------------------------


def test_a_regex_must_match_the_whole_reply(gauge):
    iface, device = gauge
    assert iface.query(b"P?", expect=NUMBER) == b"1.25E-3"
    # search() or match() would accept these; fullmatch does not.
    with pytest.raises(ReplyMismatch) as info:
        iface.query(b"X?", expect=re.compile(rb"-?\d+"))
    assert info.value.reply == b"ERR -113, undefined header"
    assert isinstance(info.value, ConnectionError)
    with pytest.raises(ReplyMismatch, match="ERR"):
        iface.query(b"X?", expect=re.compile(rb"ERR -\d+"))


def test_a_bytes_prefix_must_start_the_reply(gauge):
    iface, _ = gauge
    assert iface.query(b"ID?", expect=b"OK,") == b"OK,ACME,3.2"  # returned whole
    assert iface.query(b"ID?", expect=bytearray(b"OK")) == b"OK,ACME,3.2"
    with pytest.raises(ReplyMismatch, match=r"start with b'OK'") as info:
        iface.query(b"X?", expect=b"OK")
    assert info.value.reply.startswith(b"ERR -113")


def test_the_error_names_the_pattern_and_the_reply(gauge):
    iface, _ = gauge
    with pytest.raises(ReplyMismatch) as info:
        iface.query(b"X?", expect=NUMBER)
    message = str(info.value)
    assert NUMBER.pattern.decode() in message.replace("\\\\", "\\")
    assert "ERR -113" in message and "127.0.0.1:" in message


def test_a_mismatch_is_lost_sync_and_the_next_query_gets_its_own_reply(gauge):
    iface, _ = gauge
    # The gauge sends a warning line first: the reply read is the warning,
    # and the real one ("1.0E-3") is still coming.
    with pytest.raises(ReplyMismatch) as info:
        iface.query(b"LATE?", expect=NUMBER)
    assert info.value.reply == b"WARN overtemp"
    # Not even clear=False lets the leftover through.
    assert iface.query(b"T?", clear=False) == b"21.5"
    assert iface.query(b"P?", clear=False, expect=NUMBER) == b"1.25E-3"


def test_health_counts_mismatches(gauge):
    iface, _ = gauge
    assert iface.health.mismatches == 0
    for _ in range(2):
        with pytest.raises(ReplyMismatch):
            iface.query(b"X?", expect=NUMBER)
    iface.query(b"P?", expect=NUMBER)
    health = iface.health
    assert health.mismatches == 2
    assert health.last_error is not None and "ERR -113" in health.last_error


@pytest.mark.parametrize(
    "expect, hint",
    [
        ("OK", "bytes prefix"),
        (re.compile(r"\d+"), r"re.compile\(rb"),
        (42, "bytes prefix"),
    ],
)
def test_a_bad_expect_is_refused_before_sending(gauge, expect, hint):
    iface, device = gauge
    with pytest.raises(TypeError, match=hint):
        iface.query(b"P?", expect=expect)
    with pytest.raises(TypeError, match=hint):
        iface.query_values(b"V?", expect=expect)
    assert iface.query(b"T?") == b"21.5"
    assert device.received == [b"T?"]


# -- query_values -------------------------------------------------------------


def test_values_are_floats_by_default(gauge):
    iface, _ = gauge
    assert iface.query_values(b"V?") == [1.0, 2.5e-3, -4.0, 500.0]
    assert iface.query_values(b"P?") == [1.25e-3]
    assert iface.query_values(b"NONE?") == []


def test_separator_and_converter(gauge):
    iface, _ = gauge
    assert iface.query_values(
        b"H?", separator=b";", converter=lambda s: int(s, 16)
    ) == [31, 255, 0]
    values = iface.query_values(b"V?", converter=decimal.Decimal)
    assert values == [decimal.Decimal(s) for s in ("1.0", "2.5E-3", "-4", "5e2")]
    assert iface.query_values(b"ID?", converter=str, expect=b"OK") == [
        "OK",
        "ACME",
        "3.2",
    ]


def test_a_field_that_does_not_convert_is_named(gauge):
    iface, _ = gauge
    with pytest.raises(ValueError, match=r"field 1 \(b'abc'\)") as info:
        iface.query_values(b"BAD?")
    assert "float" in str(info.value) and "b'1.0,abc,3'" in str(info.value)
    with pytest.raises(ValueError, match=r"field 0 \(b'1f'\).*with int"):
        iface.query_values(b"H?", separator=b";", converter=int)
    # The reply was read whole: the stream is in step.
    assert iface.query_values(b"T?", clear=False) == [21.5]


def test_query_values_with_expect_raises_before_converting(gauge):
    iface, _ = gauge
    with pytest.raises(ReplyMismatch):
        iface.query_values(b"X?", expect=NUMBER)
    assert iface.query_values(b"P?", expect=NUMBER, clear=False) == [1.25e-3]


@pytest.mark.parametrize(
    "options, match",
    [
        ({"separator": ","}, "separator must be non-empty bytes"),
        ({"separator": b""}, "separator must be non-empty bytes"),
        ({"converter": "float"}, "converter must be callable"),
    ],
)
def test_bad_values_options_are_refused_before_sending(gauge, options, match):
    iface, device = gauge
    with pytest.raises(TypeError, match=match):
        iface.query_values(b"V?", **options)
    assert iface.query(b"T?") == b"21.5"
    assert device.received == [b"T?"]


def test_every_reply_and_error_payload_is_bytes(Interface):
    responses = {b"Q": b"abc", b"B": b"#13x\ny", b"I": b"#0xyz", b"E": b"ERR"}
    with FakeDevice(responses) as device, Interface(*device.address, BOUND) as iface:
        replies = [
            iface.query_quiet(b"Q", 0.1),
            iface.query_block(b"B"),
            iface.query_block(b"I"),
            iface.query(b"Q", expect=b"a"),
        ]
        with pytest.raises(ReplyMismatch) as mismatch:
            iface.query(b"E", expect=b"OK")
        with pytest.raises(ConnectionError) as not_a_block:
            iface.query_block(b"E")
        replies += [mismatch.value.reply, not_a_block.value.partial]
    assert [type(reply) for reply in replies] == [bytes] * 6
    assert replies[:4] == [b"abc\n", b"x\ny", b"xyz", b"abc"]
