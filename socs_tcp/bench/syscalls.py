"""System calls per round trip, counted with ``strace``.

:func:`count` runs a small client process under ``strace -f``. The client
connects, makes a few warm-up round trips, looks up a marker path, makes the
measured round trips, and looks the marker up again. Only the calls between
the two markers are counted, so interpreter start-up, imports and connection
set-up (the baseline) drop out exactly, and the total divided by the number of
round trips is the cost of one.

The client is ``python -m socs_tcp.bench.syscalls IMPL HOST PORT COUNT
[LOOP]``; it runs the query workload's inner loop (``queries``) or, with
``LOOP=safe_queries``, the stale-safe one.
"""

import collections
import functools
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile

#: A path that never exists: looking it up is a recognisable system call.
MARKER = "/nonexistent/socs-tcp-bench-marker"

#: Seconds a traced client may run.
TRACE_TIMEOUT = 120.0

_CALL = re.compile(r"^\d+\s+([a-z_0-9]+)\(")


@functools.cache
def _probe():
    """None if ``strace`` works here, else why not."""
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed (apt-get install strace)"
    try:
        done = subprocess.run(
            [strace, "-f", "-o", os.devnull, sys.executable, "-c", "pass"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"strace does not run here ({exc})"
    if done.returncode:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return f"strace cannot trace here ({err[-1] if err else done.returncode})"
    return None


def check():
    """Raise ``RuntimeError`` (saying why) if system calls cannot be counted."""
    why = _probe()
    if why:
        raise RuntimeError(why)


def parse(lines):
    """Count the calls between the two marker calls of an ``strace -f`` log.

    Parameters
    ----------
    lines : iterable of str
        The log, one call per line (``PID name(args) = result``).

    Returns
    -------
    collections.Counter
        Calls by name, markers excluded.
    """
    calls = collections.Counter()
    inside = False
    for line in lines:
        if MARKER in line:
            if inside:
                return calls
            inside = True
            continue
        match = _CALL.match(line) if inside else None
        if match:
            calls[match.group(1)] += 1
    raise ValueError("the strace log lacks the two markers")


def count(impl_name, address, queries, loop="queries"):
    """System calls per round trip of ``impl_name``, and their breakdown.

    Parameters
    ----------
    impl_name : str
        ``'cython'``, ``'python'``, ``'socs'`` or ``'plain'``.
    address : tuple
        ``(host, port)`` of an echo peer.
    queries : int
        Round trips to count.
    loop : str
        The client method that makes them: ``'queries'`` (send + recv) or
        ``'safe_queries'`` (stale input dropped first).

    Returns
    -------
    per_query : float
        System calls per round trip.
    breakdown : dict
        Calls per round trip by name.
    """
    check()
    with tempfile.TemporaryDirectory(prefix="socs-tcp-strace-") as tmp:
        log = os.path.join(tmp, "strace.log")
        cmd = [shutil.which("strace"), "-f", "-o", log, sys.executable, "-m", __name__]
        cmd += [impl_name, address[0], str(address[1]), str(queries), loop]
        done = subprocess.run(cmd, capture_output=True, timeout=TRACE_TIMEOUT)
        if done.returncode:
            raise RuntimeError(
                f"traced {impl_name} client failed: "
                + done.stderr.decode(errors="replace")[-2000:]
            )
        with open(log, encoding="utf-8", errors="replace") as file:
            calls = parse(file)
    total = sum(calls.values())
    breakdown = {name: n / queries for name, n in calls.most_common()}
    return total / queries, breakdown


def _mark():
    try:
        os.stat(MARKER)
    except OSError:
        pass


def main(argv=None):
    """The traced client: ``IMPL HOST PORT COUNT [LOOP]``."""
    from socs_tcp.bench import impls

    name, host, port, queries, *loop = argv if argv is not None else sys.argv[1:]
    client = impls.get(name).connect((host, int(port)))
    run = getattr(client, loop[0] if loop else "queries")
    try:
        run(20)
        # Collect before each marker: what a round trip leaves for the
        # garbage collector (socs.tcp's selectors hold their epoll
        # descriptor in a reference cycle) is closed inside the window.
        gc.collect()
        _mark()
        run(int(queries))
        gc.collect()
        _mark()
    finally:
        client.close()


if __name__ == "__main__":
    main()
