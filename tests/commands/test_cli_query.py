"""``python -m socs_tcp query``: bounded reads and Ctrl-C, in a child process."""

import signal
import time

import pytest

from socs_tcp.testing import FakeDevice
from tests.cli import finish, run, socs_tcp
from tests.conftest import BACKENDS, IDS

BOTH = pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])


def stream(conn):
    """A device that answers a command with bytes that never stop."""
    conn.recv(100)
    while True:
        conn.sendall(b"x" * 512)
        time.sleep(0.005)


@BOTH
def test_a_reply_read_until_quiet_stops_at_the_timeout(make_peer, backend):
    peer = make_peer(stream)
    code, out, err = run(
        "query", f"127.0.0.1:{peer.port}", "GO", "--terminator", "", "--timeout",
        "1", backend=backend,
    )  # fmt: skip
    assert code == 0
    assert len(out) > 1 and set(out) == {"x", "\n"}
    assert err == (
        "note: the reply was cut short: the device was not quiet for 0.1 s "
        "within 1 s (--timeout)\n"
    )


@BOTH
def test_a_reply_read_until_quiet_stops_at_max_size(make_peer, backend):
    peer = make_peer(stream)
    code, out, err = run(
        "query", f"127.0.0.1:{peer.port}", "GO", "--terminator", "", "--timeout",
        "30", "--max-size", "1000", backend=backend,
    )  # fmt: skip
    assert (code, out) == (0, "x" * 1000 + "\n")
    assert err == "note: the reply was cut short: it reached 1000 bytes (--max-size)\n"


@BOTH
def test_ctrl_c_ends_a_query_with_one_line_and_130(backend):
    with FakeDevice({}, silent=True) as dev:
        proc = socs_tcp(
            "query", f"127.0.0.1:{dev.port}", "PR1", "--timeout", "30", backend=backend
        )
        dev.wait_received(1)
        proc.send_signal(signal.SIGINT)
        assert finish(proc) == (130, "", "interrupted\n")
