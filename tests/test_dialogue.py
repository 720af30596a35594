"""Dialogue files: the shipped examples serve, and mistakes name file and line."""

import textwrap

import pytest

from socs_tcp.testing.dialogue import DialogueError, load_dialogue, shipped_dialogues
from tests.conftest import BOUND

MBAP_READ = b"\x00\x07\x00\x00\x00\x06\x01\x04\x00\x01\x00\x02"


def write(tmp_path, text):
    path = tmp_path / "device.toml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_the_scpi_gauge_dialogue_serves(Interface):
    class Gauge(Interface):
        read_terminator = write_terminator = b"\r\n"

    with load_dialogue(shipped_dialogues()["scpi_gauge"]).device() as dev:
        with Gauge(*dev.address, timeout=BOUND) as gauge:
            assert gauge.query(b"*IDN?") == b"ACME,PG-105,SN1234,1.0"
            assert gauge.query(b"PR3") == b"3,1.25E-3"
            assert [gauge.query(b"TLC?") for _ in range(2)] == [b"0", b"1"]
            assert gauge.query(b"BOGUS") == b"ERR"
        assert dev.name == "SCPI gauge"


def test_the_modbus_compressor_dialogue_echoes_transaction_and_unit(Interface):
    with load_dialogue(shipped_dialogues()["modbus_compressor"]).device() as dev:
        with Interface(*dev.address, timeout=BOUND) as iface:
            iface.send(MBAP_READ)
            assert iface.recv_exactly(13) == bytes.fromhex(
                "0007 0000 0007 01 04 04 0003 0001"
            )
            iface.send(b"\x12\x34\x00\x00\x00\x06\x09\x04\x00\x63\x00\x01")
            assert iface.recv_exactly(9) == bytes.fromhex("1234 0000 0003 09 84 02")


def test_fixed_framing_escapes_and_faults_from_a_file(tmp_path, Interface):
    path = write(
        tmp_path,
        """
        [device]
        framing = "fixed"
        size = 2
        [faults]
        garbage = "\\u0000"
        [[responses]]
        command = "\\u0001\\u0005"
        hex = "ff 00"
        """,
    )
    with load_dialogue(path).device() as dev, Interface(*dev.address, 2) as iface:
        iface.send(b"\x01\x05")
        assert iface.recv_exactly(3) == b"\x00\xff\x00"


@pytest.mark.parametrize(
    "text, line, message",
    [
        ('[device]\nterminater = "\\n"\n', 2, "unknown key 'terminater' in [device]"),
        ("[faults]\nlatency = 0.1\nlatancy = 1\n", 3, "unknown fault 'latancy'"),
        ("[faults]\n\ndrop = 'close'\n", 3, 'drop must be "fin", "rst"'),
        (
            '[[responses]]\ncommand = "A"\nreply = "a"\n\n[[responses]]\n'
            "match = 'PR(['\nreply = \"x\"\n",
            6,
            "bad regex 'PR([': .*write a Python regex in single quotes",
        ),
        ('[[responses]]\ncommand = "A"\nreply = 5\n', 3, "reply must be a string"),
        (
            '[[responses]]\ncommand = "A"\nreply = "\\u20ac"\n',
            3,
            "not bytes.*write bytes as",
        ),
        ('[[responses]]\ncommand = "A"\nanswer = "a"\n', 3, "unknown key 'answer'"),
        ('[[responses]]\ncommand = "A"\n', 1, "exactly one of reply"),
        ("[[responses]]\nmatch = 'A'\nreply = \"{2}\"\n", 3, "names no group"),
        ('[device]\nframing = "modbus"\n', 2, "unknown framing 'modbus'"),
        ('reply = "a"\n', 1, "unknown table or key 'reply'"),
        ('[[responses]]\ncommand = "A\nreply = "a"\n', 2, "not valid TOML"),
        ('[[responses]]\ncommand = "A"\nhex = "0g"\n', 3, "not pairs of hex digits"),
    ],
)
def test_mistakes_name_the_file_the_line_and_the_fix(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(DialogueError) as raised:
        load_dialogue(path)
    text = str(raised.value)
    assert text.startswith(f"{path}:{line}: ")
    for part in message.split(".*"):  # the parts, in order
        assert part in text
        text = text[text.index(part) + len(part) :]


def test_a_regex_entry_serves_its_replies_in_turn_filling_groups(tmp_path):
    path = write(
        tmp_path,
        """
        [[responses]]
        match = 'N(\\d)'
        replies = ["a{1}", "b{1}"]
        """,
    )
    ((pattern, reply),) = load_dialogue(path).responses.items()
    served = [reply(b"N3", pattern.fullmatch(b"N3")) for _ in range(3)]
    assert served == [b"a3", b"b3", b"b3"]
