"""``python -m socs_tcp query|shell|emulate`` against fake devices.

``emulate`` and ``query`` run as separate processes talking to each other;
the other tests run the commands in this process against a ``FakeDevice``,
on both backends.
"""

import io
import re
import signal
import subprocess

import pytest

from socs_tcp.cli import _device, main
from socs_tcp.cli.shell import Shell
from socs_tcp.testing import FakeDevice
from tests.cli import first_line, socs_tcp
from tests.conftest import BACKENDS, BOUND, IDS

GAUGE = {b"*IDN?": b"ACME,PTC,1.0", b"PR1": b"1.2E-3"}


@pytest.fixture
def emulate():
    """Start ``emulate`` in a process; return ``(process, port)``."""
    procs = []

    def start(*args):
        proc = socs_tcp("emulate", *args)
        procs.append(proc)
        line = first_line(proc)
        found = re.search(r" on 127\.0\.0\.1:(\d+); Ctrl-C to stop", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        return proc, int(found.group(1))

    yield start
    for proc in procs:
        proc.kill()
        proc.communicate(timeout=BOUND)


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_emulate_and_query_talk_to_each_other(emulate, backend):
    proc, port = emulate("scpi_gauge")
    query = socs_tcp(
        "query", f"127.0.0.1:{port}", "PR2", "--terminator", "\\r\\n", backend=backend
    )
    out, err = query.communicate(timeout=BOUND)
    assert (query.returncode, out, err) == (0, "2,1.25E-3\n", "")
    modbus, port = emulate("modbus_compressor")
    request = "\\x00\\x09\\x00\\x00\\x00\\x06\\x01\\x04\\x00\\x07\\x00\\x02"
    query = socs_tcp(
        "query", f"127.0.0.1:{port}", request, "--terminator", "", "--hex",
        backend=backend,
    )  # fmt: skip
    out, err = query.communicate(timeout=BOUND)
    assert query.returncode == 0, err
    assert out.startswith("0000  00 09 00 00 00 07 01 04 04 00 b9 01 41")
    # Ctrl-C stops the emulator cleanly, and it says what it served.
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0
    assert "stopped after 1 connections, 1 commands" in out


def test_emulate_reports_a_bad_dialogue_and_a_port_in_use(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nterminator = "\\n"\nanswer = "x"\n')
    assert main(["emulate", str(bad)]) == 2
    assert (
        f"error: {bad}:3: unknown key 'answer' in [device]" in capsys.readouterr().err
    )
    assert main(["emulate", "no_such_device"]) == 2
    assert "scpi_gauge" in capsys.readouterr().err
    with FakeDevice({}) as dev:
        assert main(["emulate", "scpi_gauge", "--port", str(dev.port)]) == 1
    assert "--port 0 for any free one" in capsys.readouterr().err


@pytest.fixture
def cli(Interface, monkeypatch, capsys):
    """Run ``python -m socs_tcp ARGS`` here, on the backend under test."""
    monkeypatch.setattr(_device, "TCPInterface", Interface)

    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_query_prints_the_reply_without_terminator(cli):
    with FakeDevice(GAUGE, terminator=b"\r\n") as dev:
        address = f"{dev.host}:{dev.port}"
        assert cli("query", address, "*IDN?", "--terminator", "\\r\\n") == (
            0,
            "ACME,PTC,1.0\n",
            "",
        )
        assert dev.received == [b"*IDN?"]


def test_query_binary_reply_of_a_given_size_in_hex(cli):
    with FakeDevice({b"\x05": b"\x00\x01\xff"}, terminator=None, framer=lambda b: (
        (b[:1], b[1:]) if b else None
    )) as dev:  # fmt: skip
        code, out, _ = cli(
            "query", f"127.0.0.1:{dev.port}", "\\x05", "--terminator", "",
            "--size", "3", "--hex",
        )  # fmt: skip
    assert code == 0
    assert out == "0000  00 01 ff" + " " * 41 + "|...|\n"


def test_query_errors_say_what_went_wrong(cli):
    with FakeDevice(GAUGE, silent=True) as dev:
        address = f"127.0.0.1:{dev.port}"
        code, _, err = cli("query", address, "PR1", "--timeout", "0.1")
        assert code == 1
        assert "no reply within 0.1 s" in err
        dev.down()
        code, _, err = cli("query", address, "PR1", "--timeout", "0.5")
        assert code == 1
        assert err.startswith(f"error: cannot connect to {address}: ")
        assert "refused" in err
        assert err.count(address) == 1


def test_query_refuses_a_bad_address_or_escape(capsys):
    for args in (["localhost", "PR1"], ["127.0.0.1:5025", "\\x0"]):
        with pytest.raises(SystemExit) as exited:
            main(["query", *args])
        assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'localhost' is not HOST:PORT; write e.g. 192.168.1.20:5025" in err
    assert "cannot read the escapes in '\\\\x0'" in err


def shell_here(iface, script, frame=None, timeout=BOUND):
    """Run a piped ``Shell`` here on ``script``: ``(status, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(
        iface, frame or _device.Framing(), timeout,
        stdin=io.StringIO(script), stdout=out, stderr=err,
    )  # fmt: skip
    status = shell.cmdloop("not shown: stdin is not a terminal")
    return status, out.getvalue(), err.getvalue()


def test_shell_sends_lines_and_shows_replies(cli):
    script = "*IDN?\n%hex\nPR1\n\n%terminator \\n\n*IDN?\n%bogus\n%quit\nPR1\n"
    with FakeDevice(GAUGE, terminator=b"\r\n") as dev:
        iface = _device.open_device(dev.host, dev.port, BOUND)
        try:
            status, out, err = shell_here(
                iface, script, _device.Framing(b"\r\n"), timeout=0.2
            )
        finally:
            iface.close()
        assert dev.received == [b"*IDN?", b"PR1"]  # \n alone frames nothing
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "ACME,PTC,1.0"
    assert re.match(r"0000  31 2e 32 45 2d 33 +\|1\.2E-3\|$", lines[1])
    assert len(lines) == 2  # an empty line sends nothing; %quit leaves
    notes = err.splitlines()
    assert "hex view" in notes[0] and "terminator \\n," in notes[1]
    assert notes[2].endswith("no reply within 0.2 s)")
    assert notes[3].startswith("error: unknown shell command %bogus; %help lists")


def test_shell_shows_unasked_bytes_and_binary_replies_in_hex(cli):
    with FakeDevice({b"B": b"\x01\x02"}, terminator=b"\n") as dev:
        iface = _device.open_device(dev.host, dev.port, BOUND)
        try:
            dev.wait_clients(1)
            dev.send(b"ALARM\n")
            status, out, err = shell_here(iface, "%read\nB\n\\x0\n")
        finally:
            iface.close()
    assert status == 1
    assert out.startswith("0000  01 02 ")
    notes = err.splitlines()
    assert notes[0] == "(unasked) ALARM\\n"
    assert notes[1].startswith("error: cannot read the escapes in '\\\\x0'")


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_shell_in_one_process_talks_to_emulate_in_another(emulate, backend):
    _, port = emulate("scpi_gauge")
    shell = socs_tcp(
        "shell", f"127.0.0.1:{port}", "--terminator", "\\r\\n", "--history", "",
        stdin=subprocess.PIPE, backend=backend,
    )  # fmt: skip
    try:
        out, err = shell.communicate("*IDN?\n%hex\nUNI?\n", timeout=BOUND)
    finally:
        shell.kill()
    assert shell.returncode == 0, err
    assert out.startswith("ACME,PG-105,SN1234,1.0\n0000  4d 42 41 52 ")
