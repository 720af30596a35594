"""``python -m socs_tcp query|shell|emulate`` against fake devices.

``emulate`` and ``query`` run as separate processes talking to each other;
the other tests run the commands in this process against a ``FakeDevice``,
on both backends.
"""

import io
import os
import re
import select
import signal
import subprocess
import sys

import pytest

from socs_tcp.cli import _device, main
from socs_tcp.cli.shell import Shell
from socs_tcp.testing import FakeDevice
from tests.conftest import BACKENDS, BOUND, IDS

GAUGE = {b"*IDN?": b"ACME,PTC,1.0", b"PR1": b"1.2E-3"}


def socs_tcp(*args, backend="python", **kwargs):
    """Start ``python -m socs_tcp ARGS`` with its output piped."""
    env = {**os.environ, "SOCS_TCP_BACKEND": backend}
    return subprocess.Popen(
        [sys.executable, "-m", "socs_tcp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def first_line(proc):
    """The first line ``proc`` prints, waiting up to ``BOUND``."""
    ready, _, _ = select.select([proc.stdout], [], [], BOUND)
    assert ready, "the process printed nothing in time"
    return proc.stdout.readline()


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
    assert "the port is in use" in capsys.readouterr().err


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


def test_shell_sends_lines_and_shows_replies_with_timing(Interface):
    script = "*IDN?\n:hex\nPR1\n\n:terminator \\n\n*IDN?\n:bogus\n:quit\n"
    out = io.StringIO()
    with FakeDevice(GAUGE, terminator=b"\r\n") as dev:
        with Interface(*dev.address, timeout=BOUND) as iface:
            shell = Shell(
                iface, b"\r\n", None, 0.2, stdin=io.StringIO(script), stdout=out
            )
            shell.cmdloop()
        assert dev.received == [b"*IDN?", b"PR1"]  # \n alone frames nothing
    lines = out.getvalue().split(shell.prompt)
    assert re.fullmatch(r"ACME,PTC,1\.0    \(\d+\.\d ms\)\n", lines[1])
    assert "hex view" in lines[2]
    assert re.match(r"0000  31 2e 32 45 2d 33 +\|1\.2E-3\|\n\(6 bytes in ", lines[3])
    assert lines[4] == ""  # an empty line sends nothing
    assert "terminator \\n," in lines[5]
    assert lines[6] == "(no reply within 0.2 s)\n"
    assert lines[7] == "unknown shell command :bogus; :help lists them\n"


def test_shell_shows_unasked_bytes_and_binary_replies_in_hex(Interface):
    out = io.StringIO()
    with FakeDevice({b"B": b"\x01\x02"}, terminator=b"\n") as dev:
        with Interface(*dev.address, timeout=BOUND) as iface:
            shell = Shell(iface, stdin=io.StringIO(), stdout=out)
            dev.wait_clients(1)
            dev.send(b"ALARM\n")
            shell.onecmd(":read")
            shell.onecmd("B")
            shell.onecmd("\\x0")
    lines = out.getvalue().splitlines()
    assert lines[0] == "(unasked) ALARM\\n"
    assert lines[1].startswith("0000  01 02 ")
    assert lines[3].startswith("error: cannot read the escapes in '\\\\x0'")


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_shell_in_one_process_talks_to_emulate_in_another(emulate, backend):
    _, port = emulate("scpi_gauge")
    shell = socs_tcp(
        "shell", f"127.0.0.1:{port}", "--terminator", "\\r\\n", "--history", "",
        stdin=subprocess.PIPE, backend=backend,
    )  # fmt: skip
    try:
        out, err = shell.communicate("*IDN?\n:hex\nUNI?\n", timeout=BOUND)
    finally:
        shell.kill()
    assert (shell.returncode, err) == (0, "")
    assert "ACME,PG-105,SN1234,1.0    (" in out
    assert "0000  4d 42 41 52 " in out
