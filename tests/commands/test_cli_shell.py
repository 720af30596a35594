"""``python -m socs_tcp shell``: stale replies, Ctrl-C, the % prefix, pipes.

The shell runs in a child process against a ``FakeDevice`` on loopback:
piped, or in a pseudo-terminal for what a person at a terminal sees.
"""

import os
import pty
import signal
import subprocess
import time

import pytest

from socs_tcp.testing import FakeDevice
from tests.cli import Terminal, run, socs_tcp
from tests.conftest import BACKENDS, BOUND, IDS

GAUGE = {b"*IDN?": b"ACME,PTC,1.0", b"PR1": b"1.2E-3", b":MEAS:VOLT?": b"+1.5"}
BOTH = pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])


def shell(address, lines, *options, backend="python"):
    """A piped shell: ``(returncode, stdout, stderr)``."""
    return run(
        "shell", address, "--history", "", *options, stdin=lines, backend=backend
    )


@BOTH
def test_a_late_reply_is_never_shown_as_the_next_commands(backend):
    replies = {b"A?": b"reply-to-A", b"B?": b"reply-to-B"}
    with FakeDevice(replies, latency=1.5) as dev:
        code, out, err = shell(
            f"127.0.0.1:{dev.port}", "A?\n%timeout 3\nB?\n", "--timeout", "1",
            backend=backend,
        )  # fmt: skip
        assert dev.received == [b"A?", b"B?"]
    assert out == "reply-to-B\n"  # A's reply came after A's timeout
    assert "no reply within 1 s" in err
    assert code == 1  # A got no reply


@BOTH
def test_a_piped_shell_prints_replies_alone_and_its_status_says_if_any_failed(
    backend,
):
    with FakeDevice(GAUGE, terminator=b"\r\n") as dev:
        address = f"127.0.0.1:{dev.port}"
        code, out, err = shell(
            address, "*IDN?\nPR1\n", "--terminator", "\\r\\n", backend=backend
        )
        assert (code, out, err) == (0, "ACME,PTC,1.0\n1.2E-3\n", "")
    with FakeDevice(GAUGE, silent=True) as dev:
        code, out, err = shell(
            f"127.0.0.1:{dev.port}", "PR1\nPR1\n", "--timeout", "0.2", backend=backend
        )
    assert (code, out) == (1, "")
    assert err.count("no reply within 0.2 s") == 2


def test_colon_lines_are_sent_and_percent_words_are_the_shells():
    with FakeDevice(GAUGE) as dev:
        code, out, err = shell(
            f"127.0.0.1:{dev.port}",
            ":MEAS:VOLT?\n%hex\n%text\n%bogus\n%send %text\n%01#RCS\n",
            "--timeout", "0.3",
        )  # fmt: skip
        assert dev.received == [b":MEAS:VOLT?", b"%text", b"%01#RCS"]
    assert out == "+1.5\n"
    assert "error: unknown shell command %bogus; %help lists them, and " in err
    assert code == 1  # %bogus was refused; %text and %01#RCS got no reply


def test_a_bad_timeout_typed_in_the_shell_is_refused_and_the_shell_goes_on():
    with FakeDevice(GAUGE) as dev:
        code, out, err = shell(f"127.0.0.1:{dev.port}", "%timeout -1\nPR1\n")
    assert out == "1.2E-3\n"
    assert "error: '-1' is not a number of seconds above 0; write e.g. 2" in err
    assert "Traceback" not in err
    assert code == 1


def interrupt_readline(proc):
    """Ctrl-C to a child waiting in ``readline``.

    A signal that comes between readline's echo and its next wait for a key
    is seen only at the next key (at any Python prompt); a person cannot
    type that fast, so the test waits as long as a person would.
    """
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)


@BOTH
def test_ctrl_c_at_a_terminal_cancels_the_line_or_the_wait(backend):
    with FakeDevice(GAUGE) as dev:
        master, slave = pty.openpty()
        proc = socs_tcp(
            "shell", f"127.0.0.1:{dev.port}", "--history", "", "--timeout", "30",
            stdin=slave, stdout=slave, stderr=slave, backend=backend,
        )  # fmt: skip
        os.close(slave)
        term = Terminal(master)
        prompt = f"127.0.0.1:{dev.port}> "
        try:
            assert "%help for help" in term.expect(prompt)
            term.write(b"*IDN?\r")
            assert "ACME,PTC,1.0    (" in term.expect(prompt)
            # Waiting for a reply that never comes: Ctrl-C ends the wait.
            term.write(b"WAIT?\r")
            dev.wait_received(2)
            proc.send_signal(signal.SIGINT)
            assert "(cancelled)" in term.expect(prompt)
            # Half a line typed: Ctrl-C drops it.
            term.write(b"PART")
            term.expect("PART")
            interrupt_readline(proc)
            term.expect(prompt)
            term.write(b"PR1\r")
            assert "1.2E-3    (" in term.expect(prompt)
            interrupt_readline(proc)  # at the prompt
            term.expect(prompt)
            assert proc.poll() is None
            term.write(b"\x04")  # Ctrl-D leaves
            assert proc.wait(BOUND) == 1  # WAIT? got no reply
        finally:
            proc.kill()
            proc.wait(BOUND)
            os.close(master)
        assert dev.received == [b"*IDN?", b"WAIT?", b"PR1"]


def test_ctrl_c_in_a_piped_shell_stops_it_with_130():
    with FakeDevice(GAUGE, silent=True) as dev:
        proc = socs_tcp(
            "shell", f"127.0.0.1:{dev.port}", "--history", "", "--timeout", "30",
            stdin=subprocess.PIPE,
        )  # fmt: skip
        try:
            proc.stdin.write("PR1\n")
            proc.stdin.flush()
            dev.wait_received(1)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=BOUND)
        finally:
            proc.kill()
    assert (proc.returncode, out, err) == (130, "", "interrupted\n")
