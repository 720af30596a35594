"""Running ``python -m socs_tcp`` in a child process, for the CLI tests.

Every wait is bounded by ``BOUND``; a child still running at the end of a
test is killed by the caller's ``finally``/fixture.
"""

import os
import select
import subprocess
import sys
import time

from tests.conftest import BOUND


def socs_tcp(*args, backend="python", **kwargs):
    """Start ``python -m socs_tcp ARGS`` with its output piped, as text."""
    env = {**os.environ, "SOCS_TCP_BACKEND": backend, "TERM": "dumb"}
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options.update(kwargs)
    return subprocess.Popen(
        [sys.executable, "-m", "socs_tcp", *args], env=env, **options
    )


def finish(proc, stdin=None):
    """``(returncode, stdout, stderr)`` of ``proc``, waiting up to ``BOUND``."""
    try:
        out, err = proc.communicate(stdin, timeout=BOUND)
    finally:
        proc.kill()
    return proc.returncode, out, err


def run(*args, stdin=None, backend="python"):
    """Run ``python -m socs_tcp ARGS`` to the end: ``(returncode, out, err)``."""
    stdin_pipe = subprocess.PIPE if stdin is not None else subprocess.DEVNULL
    return finish(socs_tcp(*args, backend=backend, stdin=stdin_pipe), stdin)


def first_line(proc):
    """The first line ``proc`` prints, waiting up to ``BOUND``."""
    ready, _, _ = select.select([proc.stdout], [], [], BOUND)
    assert ready, "the process printed nothing in time"
    return proc.stdout.readline()


class Terminal:
    """The master side of a pseudo-terminal a child runs in.

    ``expect`` reads what the child writes until a text appears; what was
    read before it is consumed, so each ``expect`` looks at new output.
    """

    def __init__(self, master):
        self.master = master
        self.seen = b""

    def write(self, data):
        os.write(self.master, data)

    def expect(self, text):
        """Wait up to ``BOUND`` for ``text``; return the output up to its end."""
        wanted = text.encode()
        deadline = time.monotonic() + BOUND
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, left))
            assert ready, f"no {text!r} in time; the child wrote {self.seen!r}"
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:  # the child closed the terminal
                raise AssertionError(
                    f"no {text!r}; the child wrote {self.seen!r}"
                ) from None
        head, _, self.seen = self.seen.partition(wanted)
        return (head + wanted).decode(errors="replace")
