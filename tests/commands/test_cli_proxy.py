"""``python -m socs_tcp proxy``: record a device, replay it, break it.

The proxy runs as a process of its own in front of a ``FakeDevice`` (the
"real" device) in this process; drivers are ``query`` processes, or
``TCPInterface`` on both backends.
"""

import re
import signal
import time

import pytest

from socs_tcp.cli import main
from socs_tcp.testing import FakeDevice, load_dialogue
from tests.cli import finish, first_line, socs_tcp
from tests.conftest import BACKENDS, BOUND, IDS

GAUGE = {b"*IDN?": b"ACME,PG-105,1.0", b"PR1": [b"1.0E-3", b"1.1E-3"]}


@pytest.fixture
def real():
    with FakeDevice(GAUGE, terminator=b"\r\n", name="real gauge") as dev:
        yield dev


@pytest.fixture
def start():
    """Start a ``python -m socs_tcp`` server command; return ``(process, port)``."""
    procs = []

    def run(*args):
        proc = socs_tcp(*args)
        procs.append(proc)
        line = first_line(proc)
        found = re.match(r"(?:forwarding|serving .* on) 127\.0\.0\.1:(\d+)", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        return proc, int(found.group(1))

    yield run
    for proc in procs:
        proc.kill()
        proc.communicate(timeout=BOUND)


def query(port, command, backend="python"):
    return finish(
        socs_tcp(
            "query",
            f"127.0.0.1:{port}",
            command,
            "--terminator",
            "\\r\\n",
            backend=backend,
        )  # fmt: skip
    )


@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_record_with_the_proxy_then_replay_with_emulate(real, start, tmp_path, backend):
    record = tmp_path / "gauge.toml"
    proxy, port = start(
        "proxy", f"127.0.0.1:{real.port}", "--terminator", "\\r\\n",
        "--record", str(record),
    )  # fmt: skip
    assert query(port, "*IDN?", backend) == (0, "ACME,PG-105,1.0\n", "")
    assert query(port, "PR1", backend) == (0, "1.0E-3\n", "")
    assert query(port, "PR1", backend) == (0, "1.1E-3\n", "")
    proxy.send_signal(signal.SIGTERM)
    code, out, err = finish(proxy)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "stopped after 3 connections, 3 commands",
        f"recorded 3 commands to {record}",
    ]
    assert load_dialogue(record).options["terminator"] == b"\r\n"
    replay, port = start("emulate", str(record))
    assert query(port, "*IDN?", backend) == (0, "ACME,PG-105,1.0\n", "")
    assert query(port, "PR1", backend) == (0, "1.0E-3\n", "")


def test_fault_options_apply_to_the_forwarded_traffic(real, start):
    proxy, port = start(
        "proxy", f"127.0.0.1:{real.port}", "--terminator", "\\r\\n",
        "--latency", "0.3", "--drop-after", "1",
    )  # fmt: skip
    began = time.monotonic()
    assert query(port, "*IDN?") == (0, "ACME,PG-105,1.0\n", "")
    assert time.monotonic() - began >= 0.3
    proxy.send_signal(signal.SIGINT)
    code, out, _ = finish(proxy)
    assert code == 0 and "stopped after 1 connections" in out
    proxy, port = start(
        "proxy", f"127.0.0.1:{real.port}", "--terminator", "\\r\\n", "--drop", "rst"
    )
    code, out, err = query(port, "*IDN?")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_a_device_it_cannot_reach_is_reported_on_stderr(start):
    with FakeDevice({}) as gone:
        address = f"127.0.0.1:{gone.port}"
    proxy, port = start("proxy", address)
    code, _, err = query(port, "*IDN?")
    assert code == 1 and err.startswith("error: ")
    proxy.send_signal(signal.SIGTERM)
    code, out, err = finish(proxy)
    assert code == 0
    assert f"cannot connect to {address}: [Errno 111]" in err
    # The driver may have tried twice; nothing reached the device either way.
    assert re.fullmatch(r"stopped after [12] connections, 0 commands\n", out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["localhost"], "'localhost' is not HOST:PORT"),
        (["127.0.0.1:5025", "--listen", "70000"], "port 70000 is out of range"),
        (["127.0.0.1:5025", "--drop-after", "x"], "'x' is not a number of replies"),
        (["127.0.0.1:5025", "--listen", "x:y"], "'x:y' is not [HOST:]PORT"),
        (["127.0.0.1:5025", "--terminator", ""], "give one, e.g. --terminator"),
        (["127.0.0.1:5025", "--latency", "-1"], "not a number of seconds above 0"),
        (["127.0.0.1:5025", "--drop", "close"], "invalid choice: 'close'"),
        (["127.0.0.1:5025", "--record", "/no/such/dir/x.toml"], "no directory"),
    ],
)
def test_bad_usage_is_one_line_and_status_2(capsys, args, message):
    with pytest.raises(SystemExit) as exit_or_code:
        raise SystemExit(main(["proxy", *args]))
    assert exit_or_code.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.splitlines()) == 1


def test_an_unknown_device_name_is_status_1(capsys):
    assert main(["proxy", "nosuch.invalid:5025"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot find nosuch.invalid:5025: ")


def test_a_port_in_use_is_status_1_with_what_to_type(capsys):
    with FakeDevice({}) as busy:
        assert main(["proxy", "127.0.0.1:5025", "--listen", str(busy.port)]) == 1
    assert "--listen 0 for any free one" in capsys.readouterr().err
