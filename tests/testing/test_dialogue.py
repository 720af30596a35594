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


def query_all(dev, commands, Interface):
    """Each command's reply, over one connection of the backend under test."""
    with Interface(*dev.address, timeout=BOUND) as iface:
        return [iface.query(command) for command in commands]


def test_a_regex_entry_serves_its_replies_in_turn_filling_groups(tmp_path, Interface):
    path = write(
        tmp_path,
        """
        [[responses]]
        match = 'N(\\d)'
        replies = ["a{1}", "b{1}"]
        """,
    )
    with load_dialogue(path).device() as dev:
        assert query_all(dev, [b"N3"] * 3, Interface) == [b"a3", b"b3", b"b3"]


def test_each_device_from_one_dialogue_counts_its_own_turns(tmp_path, Interface):
    path = write(
        tmp_path,
        """
        [[responses]]
        match = 'CH(\\d)\\?'
        replies = ["{1}:0", "{1}:1"]
        [[responses]]
        command = "N?"
        replies = ["0", "1"]
        """,
    )
    dialogue = load_dialogue(path)
    for _ in range(2):  # the second device starts from the first turn again
        with dialogue.device() as dev:
            commands = [b"CH1?", b"CH1?", b"N?", b"N?"]
            assert query_all(dev, commands, Interface) == [b"1:0", b"1:1", b"0", b"1"]


def test_duplicate_entries_are_kept_in_order_and_the_first_answers(tmp_path, Interface):
    path = write(
        tmp_path,
        """
        [[responses]]
        command = "A"
        reply = "first"
        [[responses]]
        match = 'B'
        reply = "first b"
        [[responses]]
        command = "A"
        reply = "second"
        [[responses]]
        match = 'B'
        reply = "second b"
        """,
    )
    dialogue = load_dialogue(path)
    assert [reply for _, reply in dialogue.responses] == [
        b"first",
        dialogue.responses[1][1],
        b"second",
        dialogue.responses[3][1],
    ]
    with dialogue.device() as dev:
        assert query_all(dev, [b"A", b"B"], Interface) == [b"first", b"first b"]


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            '# a gauge\n[responses]\ncommand = "A"\nreply = "a"\n',
            2,
            "responses must be [[responses]] entries",
        ),
        ('# a gauge\n\n[[device]]\nname = "x"\n', 3, "device must be a [device]"),
        (
            '[[responses]]\ncommand = "A"\nreply = "a"\n\n[device.name]\nx = 1\n',
            5,
            "name must be a string",
        ),
        (
            '# a gauge\nresponses = [\n  { command = "A", reply = "a" },\n'
            '  { command = "B", reply = 5 },\n]\n',
            4,
            "reply must be a string",
        ),
        ('# a gauge\nresponses = ["A", "B"]\n', 2, "entry must be a table, not str"),
        (
            '[[responses]]\ncommand = "A"\n[responses.reply]\nx = 1\n',
            3,
            "reply must be a string, not dict",
        ),
        (
            '[[responses]]\ncommand = "A"\nreply = "a"\n[responses.x]\ny = 1\n',
            4,
            "unknown key 'x' in [[responses]]",
        ),
        ('[[responses]]\ncommand = "A"\nreply = "a"\ndelay = -1\n', 4, "delay"),
    ],
)
def test_structure_mistakes_are_reported_on_their_line(tmp_path, text, line, message):
    path = tmp_path / "device.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialogueError) as raised:
        load_dialogue(path)
    assert str(raised.value).startswith(f"{path}:{line}: ")
    assert message in str(raised.value)


def test_a_file_that_is_not_utf8_names_its_line_and_the_fix(tmp_path):
    path = tmp_path / "device.toml"
    path.write_bytes(b'[[responses]]\ncommand = "A"\nreply = "caf\xe9"\n')
    with pytest.raises(DialogueError) as raised:
        load_dialogue(path)
    text = str(raised.value)
    assert text.startswith(f"{path}:3: byte 0xe9 at column 13 is not UTF-8")
    assert "save the file as UTF-8" in text


def test_load_dialogue_is_importable_from_the_testing_package():
    from socs_tcp import testing

    assert testing.load_dialogue is load_dialogue
    assert testing.DialogueError is DialogueError


def test_delay_and_hex_lists_from_a_file(tmp_path, Interface):
    import time

    path = write(
        tmp_path,
        """
        [device]
        terminator = "\\n"
        [[responses]]
        command = "MEAS?"
        hex = ["31", "32"]
        delay = 0.3
        """,
    )
    with load_dialogue(path).device() as dev:
        began = time.monotonic()
        assert query_all(dev, [b"MEAS?", b"MEAS?"], Interface) == [b"1", b"2"]
        assert time.monotonic() - began >= 0.55
