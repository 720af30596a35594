"""Bad command lines, closed pipes and the messages of failed replies.

Each command runs as ``python -m socs_tcp`` in a child process against a
``FakeDevice`` on loopback. A bad value is refused in one line, with exit
status 2, before anything reaches the device.
"""

import os
import socket
import subprocess
import sys

import pytest

from socs_tcp import BACKEND
from socs_tcp.testing import FakeDevice
from tests.cli import finish, first_line, run, socs_tcp
from tests.conftest import BACKENDS, BOUND, IDS

GAUGE = {b"*IDN?": b"ACME,PTC,1.0", b"PR1": b"1.2E-3"}

#: Arguments after HOST:PORT, and what the one line of the refusal says.
BAD = [
    (["query", "PR1", "--timeout", "-1"], "'-1' is not a number of seconds above 0"),
    (["query", "PR1", "--timeout", "nan"], "'nan' is not a number of seconds above 0"),
    (["query", "PR1", "--timeout", "0"], "'0' is not a number of seconds above 0"),
    (["query", "PR1", "--size", "-1"], "'-1' is not a number of bytes; write e.g. 4"),
    (["query", "PR1", "--max-size", "0"], "'0' is not a number of bytes"),
    (["shell", "--timeout", "-1"], "'-1' is not a number of seconds above 0"),
    (["shell", "--timeout", "nan"], "'nan' is not a number of seconds above 0"),
    (["query", "\\q"], "\\q is not an escape; write \\r \\n \\t \\0 \\xNN"),
    (["query", "PR1\\x4"], "\\x4 (\\x takes two hex digits)"),
    (["query", "PR1", "--terminator", "\\e"], "\\e is not an escape"),
]


def test_bad_values_are_refused_in_one_line_before_anything_is_sent():
    with FakeDevice(GAUGE) as dev:
        address = f"127.0.0.1:{dev.port}"
        procs = [
            socs_tcp(args[0], address, *args[1:], stdin=subprocess.DEVNULL)
            for args, _ in BAD
        ]
        results = [finish(proc) for proc in procs]
        assert dev.connections == 0 and dev.received == []
    for (args, says), (code, out, err) in zip(BAD, results):
        assert (code, out) == (2, ""), (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert err.startswith(f"python -m socs_tcp {args[0]}: error: argument ")
        assert says in err, (args, err)
        assert err.endswith(f"(see python -m socs_tcp {args[0]} --help)\n")


def test_a_port_out_of_range_is_named_as_such():
    code, _, err = run("query", "127.0.0.1:70000", "PR1")
    assert code == 2
    assert "'127.0.0.1:70000': port 70000 is out of range; give 1 to 65535" in err
    code, _, err = run("emulate", "scpi_gauge", "--port", "70000")
    assert code == 2 and err.count("\n") == 1
    assert "port 70000 is out of range; give 1 to 65535, or 0 for any free" in err


def test_emulate_port_0_serves_on_a_free_port_and_says_which(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        dialogue = tmp_path / "gauge.toml"
        dialogue.write_text(
            f'[device]\nport = {taken}\n\n[[responses]]\ncommand = "PR1"\n'
            'reply = "1.2E-3"\n'
        )
        # The file's port is taken: the error speaks the CLI's --port.
        code, _, err = run("emulate", str(dialogue))
        assert code == 1
        assert err == (
            f"error: cannot listen on 127.0.0.1:{taken}: the port is in use by "
            "another program; choose another with --port N, or --port 0 for "
            "any free one\n"
        )
        proc = socs_tcp("emulate", str(dialogue), "--port", "0")
        try:
            line = first_line(proc)
            assert line.startswith("serving FakeDevice (")
            port = int(line.rsplit(":", 1)[1].split(";")[0])
            assert port not in (0, taken)
            assert run("query", f"127.0.0.1:{port}", "PR1")[:2] == (0, "1.2E-3\n")
        finally:
            proc.kill()
            proc.communicate(timeout=BOUND)


def test_bench_refuses_an_unwritable_json_path_before_the_run(tmp_path):
    missing = tmp_path / "missing" / "x.json"
    code, out, err = run("bench", "--quick", "--json", str(missing))
    assert (code, out) == (2, "")
    assert err == (
        f"error: --json {missing}: there is no directory {missing.parent}; "
        "create it first\n"
    )  # one line, and no progress: nothing was measured


@pytest.mark.parametrize("command", [["info"], ["query", "*IDN?"]])
def test_a_closed_stdout_ends_the_command_quietly(command):
    with FakeDevice(GAUGE) as dev:
        if command[0] == "query":
            command.insert(1, f"127.0.0.1:{dev.port}")
        read, write = os.pipe()
        os.close(read)  # as `| head -1` does once it has its line
        try:
            done = subprocess.run(
                [sys.executable, "-m", "socs_tcp", *command],
                stdout=write,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=BOUND * 4,
                # The transport that loaded here, named: no SlowPathWarning
                # where the fallback is intended.
                env={**os.environ, "SOCS_TCP_BACKEND": BACKEND},
            )
        finally:
            os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_a_timeout_on_a_wrong_terminator_shows_what_arrived_and_a_hint(backend):
    with FakeDevice(GAUGE, reply_terminator=b"\r") as dev:
        address = f"127.0.0.1:{dev.port}"
        code, out, err = run(
            "query", address, "*IDN?", "--timeout", "0.3", backend=backend
        )
        assert (code, out) == (1, "")
        assert err == (
            f"error: {address}: no complete reply within 0.3 s (13 bytes "
            "received and kept); arrived: 'ACME,PTC,1.0\\r'; does the reply end "
            "in \\r? try --reply-terminator '\\r'\n"
        )
        code, _, err = run(
            "query", address, "*IDN?", "--timeout", "0.3", "--reply-terminator", "\\r",
            backend=backend,
        )  # fmt: skip
        assert (code, err) == (0, "")


@pytest.mark.parametrize(
    "address", ["[::1", "127.0.0.1:5025:1", "[::1]x:5025", "::1:5025"]
)
def test_a_malformed_address_is_refused_before_connecting(address):
    code, out, err = run("query", address, "PR1")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{address!r} is not HOST:PORT; write e.g. 192.168.1.20:5025" in err
