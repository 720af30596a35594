"""The workloads: one function each, run alike for every library.

A workload function takes a library name (see :mod:`socs_tcp.bench.clients`),
the address of its peer and a :class:`Scale`, connects, does one timed run
and returns its number. ``NotImplementedError`` means the library has no call
for it (the table shows ``-``); :class:`Skip` means the machine cannot run it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

from socs_tcp.bench import clients
from socs_tcp.bench.clients import Address, Client
from socs_tcp.bench.peer import BLOCK_SIZE, RECORD_SIZE


class Skip(Exception):
    """This machine cannot run the workload; the message says why."""


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much work one run does, and how many runs make a median."""

    repeats: int
    queries: int
    stream_bytes: int
    lines: int
    traced_queries: int
    gil_window: float
    blocks: int = 16  #: 1 MiB blocks per ``query_block`` run


DEFAULT = Scale(9, 1500, 32 << 20, 32768, 1000, 0.05, 32)  #: about two minutes here
QUICK = Scale(3, 300, 4 << 20, 4096, 200, 0.02, 8)  #: a few seconds per workload

Run = Callable[[str, Address, Scale], float]


@dataclasses.dataclass(frozen=True)
class Workload:
    """One row of the table.

    Attributes
    ----------
    name, title, unit : str
        Key, description and unit of the number.
    run : callable
        ``run(library, address, scale)``: one timed run, its number.
    peer : str
        The peer's mode.
    lower_is_better : bool
        Direction of the number.
    pinned : bool
        A ping-pong on one connection: the client and the peer share a CPU,
        so a cross-CPU wake-up (a cost of the machine) stays out of it.
    once : bool
        An exact count: one run is enough.
    """

    name: str
    title: str
    unit: str
    run: Run
    peer: str = "echo"
    lower_is_better: bool = False
    pinned: bool = False
    once: bool = False


def _queries(call: str, per_query: bool) -> Run:
    """Round trips of ``call``: per second, or CPU microseconds per round trip."""

    def run(library: str, address: Address, scale: Scale) -> float:
        with clients.connect(library, address) as client:
            client.times(call, 20)  # first-call costs are not measured
            clock = client.cpu_time if per_query else time.perf_counter
            start = clock()
            client.times(call, scale.queries)
            took = clock() - start
        return took / scale.queries * 1e6 if per_query else scale.queries / took

    return run


def _stream(how: str) -> Run:
    def run(library: str, address: Address, scale: Scale) -> float:
        records = how in ("lines", "iterate")
        count = scale.lines if records else scale.stream_bytes
        with clients.connect(library, address) as client:
            if how == "lines":
                client.times("readline", 0)  # has it? before asking for records
            elif how == "iterate" and "lines" not in client.loops:
                client.call("lines")
            start = time.perf_counter()
            client.send(b"%d\n" % (count * RECORD_SIZE if records else count))
            if how == "lines":
                client.times("readline", count)
                got = count
            elif how == "iterate":
                got = client.count_lines()
            elif how == "into" and client.recv_into is not None:
                buffer, into, got = bytearray(65536), client.recv_into, 0
                while n := into(buffer):
                    got += n
            else:  # stream, or into for a library without recv_into
                got = client.to_eof(4096 if how == "stream" else 65536)
            took = time.perf_counter() - start
        if got != count:
            raise ConnectionError(f"received {got} of {count}")
        return count / took / (1 if records else 1e6)

    return run


def query_block(library: str, address: Address, scale: Scale) -> float:
    """1 MiB IEEE 488.2 blocks, each asked for and received: MB/s of data."""
    with clients.connect(library, address) as client:
        client.times("ask_block", 1)  # has it? and first-call costs
        start = time.perf_counter()
        if "ask_block" in client.loops:
            client.times("ask_block", scale.blocks)
        else:
            ask_block = client.call("ask_block")
            for _ in range(scale.blocks):
                if (got := ask_block()) != BLOCK_SIZE:
                    raise ConnectionError(f"a block of {got} bytes, not {BLOCK_SIZE}")
        took = time.perf_counter() - start
    return scale.blocks * BLOCK_SIZE / took / 1e6


def _count(iterations: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i & 7
    return time.perf_counter() - start


def gil(library: str, address: Address, scale: Scale) -> float:
    """A Python thread's speed while another waits in a receive, in % of alone."""
    window = scale.gil_window
    with clients.connect(library, address, timeout=window * 2) as client:
        waiter = threading.Thread(target=client.call("wait"), daemon=True)
        iterations = max(1000, int(1000 / _count(1000) * window))
        alone = _count(iterations)
        waiter.start()
        time.sleep(window / 4)  # let it enter the receive
        during = _count(iterations)
        waiter.join(clients.TIMEOUT)
    return 100.0 * alone / during


def _close_all(opened: list[Client]) -> None:
    """Close every client at once: some libraries take a while (pyserial 0.3 s)."""
    closers = [threading.Thread(target=client.close) for client in opened]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join()


def _threads(n: int) -> Run:
    def run(library: str, address: Address, scale: Scale) -> float:
        per = max(1, 2 * scale.queries // n)
        start = threading.Barrier(n + 1, timeout=60)
        errors: list[Exception] = []

        def work(client: Client) -> None:
            try:
                start.wait()
            except threading.BrokenBarrierError:  # a connection failed: no run
                return
            try:
                client.times("ask", per)
            except Exception as exc:  # re-raised below
                errors.append(exc)

        opened: list[Client] = []
        workers: list[threading.Thread] = []
        try:
            for _ in range(n):
                opened.append(clients.connect(library, address))
                opened[-1].times("ask", 5)
                workers.append(threading.Thread(target=work, args=(opened[-1],)))
                workers[-1].start()
            start.wait()
            began = time.perf_counter()
            for worker in workers:
                worker.join()
            took = time.perf_counter() - began
        except BaseException:
            start.abort()  # the workers still waiting to begin return
            raise
        finally:
            for worker in workers:
                worker.join()
            _close_all(opened)
        if errors:
            raise errors[0]
        return per * n / took

    return run


# -- system calls per round trip, counted with strace -----------------------

MARKER = "/nonexistent/socs-tcp-bench-marker"  #: looked up around the count
_CALL = re.compile(r"^\d+\s+([a-z_0-9]+)\(")


def parse(lines: Iterable[str]) -> collections.Counter[str]:
    """Count the calls between the two marker look-ups of an ``strace -f`` log."""
    calls: collections.Counter[str] = collections.Counter()
    inside = False
    for line in lines:
        if MARKER in line:
            if inside:
                return calls
            inside = True
        elif inside and (match := _CALL.match(line)):
            calls[match.group(1)] += 1
    raise ValueError("the strace log lacks the two markers")


def _syscalls(call: str) -> Run:
    def run(library: str, address: Address, scale: Scale) -> float:
        strace = shutil.which("strace")
        if strace is None:
            raise Skip("strace is not installed (apt-get install strace)")
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "strace.log")
            args = [library, *map(str, address), str(scale.traced_queries), call]
            done = subprocess.run(
                [strace, "-f", "-o", log, sys.executable, "-m", __name__, *args],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if "NotImplementedError" in done.stderr:
                raise NotImplementedError(call)
            if done.returncode or not os.path.exists(log):
                raise Skip(f"strace cannot trace here: {done.stderr[-300:]}")
            with open(log, encoding="utf-8", errors="replace") as file:
                return sum(parse(file).values()) / scale.traced_queries

    return run


def traced_client(library: str, host: str, port: str, count: str, call: str) -> None:
    """The client :func:`_syscalls` traces: marks the counted calls."""
    with clients.connect(library, (host, int(port))) as client:
        client.times(call, 20)
        for n in (int(count), 0):
            # What a round trip leaves to the collector (socs.tcp's
            # selectors) is closed inside the window.
            gc.collect()
            with contextlib.suppress(OSError):
                os.stat(MARKER)
            client.times(call, n)


WORKLOADS = [
    Workload(
        "query",
        "32 B request and reply",
        "round trips/s",
        _queries("ask", False),
        pinned=True,
    ),
    Workload(
        "query-safe",
        "... dropping stale input first",
        "round trips/s",
        _queries("safe_ask", False),
        pinned=True,
    ),
    Workload(
        "cpu",
        "client CPU per round trip",
        "us/query",
        _queries("ask", True),
        lower_is_better=True,
        pinned=True,
    ),
    Workload(
        "syscalls",
        "system calls per round trip",
        "calls/query",
        _syscalls("ask"),
        lower_is_better=True,
        pinned=True,
        once=True,
    ),
    Workload(
        "syscalls-safe",
        "... dropping stale input first",
        "calls/query",
        _syscalls("safe_ask"),
        lower_is_better=True,
        pinned=True,
        once=True,
    ),
    Workload(
        "stream", "stream to EOF, recv(4096)", "MB/s", _stream("stream"), peer="stream"
    ),
    Workload(
        "stream-into",
        "stream to EOF into 64 KiB",
        "MB/s",
        _stream("into"),
        peer="stream",
    ),
    Workload("lines", "64-byte lines", "lines/s", _stream("lines"), peer="lines"),
    Workload(
        "lines-iter",
        "64-byte lines, iterated",
        "lines/s",
        _stream("iterate"),
        peer="lines",
    ),
    Workload(
        "query_block",
        "1 MiB IEEE 488.2 block query",
        "MB/s",
        query_block,
        peer="block",
    ),
    Workload("gil", "a thread's speed during a recv wait", "% of alone", gil),
    Workload("threads-1", "1 device, 1 thread", "round trips/s", _threads(1)),
    Workload("threads-16", "16 devices, 16 threads", "round trips/s", _threads(16)),
    Workload("threads-64", "64 devices, 64 threads", "round trips/s", _threads(64)),
]


def select(names: Iterable[str] = ()) -> list[Workload]:
    """The workloads called ``names`` (all when empty), in table order."""
    names = set(names)
    unknown = names - {w.name for w in WORKLOADS}
    if unknown:
        known = ", ".join(w.name for w in WORKLOADS)
        raise ValueError(
            f"unknown workload {', '.join(sorted(unknown))}; choose from {known}"
        )
    return [w for w in WORKLOADS if not names or w.name in names]


if __name__ == "__main__":
    traced_client(*sys.argv[1:])
