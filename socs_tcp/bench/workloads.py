"""The workloads: the one definition shared by the CLI and ``benchmarks/``.

A :class:`Workload` says what is measured and how a measurement becomes a
number; its :meth:`Workload.session` opens the connections for one
implementation. A session is driven the same way by the CLI runner and by
pytest-benchmark::

    with workload.session(impl, peer_address, scale) as session:
        session.prepare()    # untimed: e.g. a fresh connection for a stream
        work = session.run()  # timed: returns the work done (queries, bytes)
        session.finish()     # untimed: e.g. close that connection

The inner loops themselves are each implementation's, in
:mod:`socs_tcp.bench.impls`.
"""

import dataclasses
import threading
import time

from socs_tcp.bench import impls, syscalls
from socs_tcp.bench.peer import RECORD_SIZE

#: Seconds a thread of the threads workload waits for the others at most.
BARRIER_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much work one run does, and how many runs make a median.

    Attributes
    ----------
    repeats : int
        Timed runs per implementation (the median is reported).
    queries : int
        Round trips per run of the query and CPU workloads.
    stream_bytes : int
        Bytes per run of the stream workloads.
    lines : int
        64-byte records per run of the line workload.
    syscall_queries : int
        Round trips counted under ``strace``.
    thread_queries : int
        Round trips per run of a threads workload, shared by its threads.
    gil_window : float
        Seconds the counter of the GIL workload runs, alone and beside a
        waiting receive.
    """

    repeats: int
    queries: int
    stream_bytes: int
    lines: int
    syscall_queries: int
    thread_queries: int
    gil_window: float


#: The default: about 30 s for the whole suite on a 2-core machine.
DEFAULT = Scale(
    repeats=9,
    queries=1500,
    stream_bytes=32 << 20,
    lines=32768,
    syscall_queries=1000,
    thread_queries=2000,
    gil_window=0.05,
)

#: ``--quick``: a few seconds, for a smoke test or a first look.
QUICK = Scale(
    repeats=3,
    queries=300,
    stream_bytes=4 << 20,
    lines=4096,
    syscall_queries=200,
    thread_queries=600,
    gil_window=0.02,
)


class Session:
    """The connections of one implementation for one workload.

    Use as a context manager; :meth:`close` releases everything.
    """

    def prepare(self):
        """Get ready for one :meth:`run` (untimed)."""

    def run(self):
        """Do one run of work (timed); return how much (see the workload)."""
        raise NotImplementedError

    def finish(self):
        """Clean up after one :meth:`run` (untimed)."""

    def close(self):
        """Release every connection and thread."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Workload:
    """One thing measured, for every implementation.

    Parameters
    ----------
    name : str
        Key for ``--only`` and the JSON.
    title : str
        Row heading.
    unit : str
        Unit of the reported value.
    peer_mode : str
        Which peer it talks to (``'echo'``, ``'stream'`` or ``'lines'``).
    higher_is_better : bool
        Direction of the value.
    group : str
        Family for ``--only`` and the pytest-benchmark group.
    apis : dict
        What each implementation calls, where it differs by implementation.
    repeats : int, optional
        Fixed number of runs, whatever the scale (for exact counts).

    Attributes
    ----------
    shared_cpu : bool
        Run the client and the peer on one CPU (see
        :func:`socs_tcp.bench.placement.placed`): true for one request/reply
        connection, where the two never run at once.
    """

    shared_cpu = False

    def __init__(
        self,
        name,
        title,
        unit,
        peer_mode,
        *,
        higher_is_better=True,
        group=None,
        apis=None,
        repeats=None,
    ):
        self.name = name
        self.title = title
        self.unit = unit
        self.peer_mode = peer_mode
        self.higher_is_better = higher_is_better
        self.group = group or name
        self.apis = dict(apis or {})
        self.fixed_repeats = repeats

    def __repr__(self):
        return f"<Workload {self.name}>"

    def check(self):
        """Raise ``RuntimeError`` if this workload cannot run on this machine."""

    def repeats(self, scale):
        """How many timed runs per implementation at ``scale``."""
        return self.fixed_repeats or scale.repeats

    def session(self, impl, address, scale):
        """Open a :class:`Session` of ``impl`` against the peer at ``address``."""
        raise NotImplementedError

    def value(self, work, wall, cpu):
        """The reported number for one run: ``work`` per wall-clock second."""
        return work / wall


class Query(Workload):
    """Request/reply round trips with ``send`` + ``recv``."""

    shared_cpu = True

    def session(self, impl, address, scale):
        return _QuerySession(impl, address, scale.queries)


class QueryCpu(Query):
    """CPU time (user + sys) of the client per round trip, in microseconds."""

    def value(self, work, wall, cpu):
        return cpu / work * 1e6


class Stream(Workload):
    """Receive a stream to EOF; ``how`` is ``'stream'``, ``'into'`` or ``'lines'``."""

    def __init__(self, name, title, unit, how, **kwargs):
        super().__init__(
            name, title, unit, "lines" if how == "lines" else "stream", **kwargs
        )
        self.how = how

    def session(self, impl, address, scale):
        return _StreamSession(impl, address, scale, self.how)

    def value(self, work, wall, cpu):
        # Bytes become MB/s; records stay records/s.
        return work / wall / (1 if self.how == "lines" else 1e6)


class Syscalls(Workload):
    """System calls per round trip, counted with ``strace``.

    ``loop`` names the client method: ``'queries'`` (send + recv) or
    ``'safe_queries'`` (stale input dropped before each command).
    """

    shared_cpu = True

    def __init__(self, *args, loop="queries", **kwargs):
        super().__init__(*args, **kwargs)
        self.loop = loop

    def check(self):
        syscalls.check()

    def session(self, impl, address, scale):
        return _SyscallSession(impl, address, scale.syscall_queries, self.loop)

    def value(self, work, wall, cpu):
        return work


class GilRelease(Workload):
    """How fast a pure-Python thread runs while another waits in ``recv()``.

    The value is the counter's speed with a receive waiting on a silent
    connection, as a percentage of its speed alone: near 100 means the wait
    left the interpreter free.
    """

    def session(self, impl, address, scale):
        return _GilSession(impl, address, scale.gil_window)

    def value(self, work, wall, cpu):
        return work


class Threads(Workload):
    """Round trips on ``n`` connections from ``n`` threads, in aggregate."""

    def __init__(self, n, **kwargs):
        super().__init__(
            f"threads-{n}",
            f"{n} device{'s' if n > 1 else ''} polled from {n} "
            f"thread{'s' if n > 1 else ''} (send+recv)",
            "queries/s",
            "echo",
            group="threads",
            **kwargs,
        )
        self.n = n

    def session(self, impl, address, scale):
        return _ThreadsSession(impl, address, max(1, scale.thread_queries), self.n)


# -- sessions --------------------------------------------------------------


class _QuerySession(Session):
    def __init__(self, impl, address, count):
        self.count = count
        self.client = impl.connect(address)
        try:
            self.client.queries(20)  # warm up: first-call costs are not measured
        except BaseException:
            self.client.close()
            raise

    def run(self):
        self.client.queries(self.count)
        return self.count

    def close(self):
        self.client.close()


class _StreamSession(Session):
    def __init__(self, impl, address, scale, how):
        self.impl, self.address, self.how = impl, address, how
        if how == "lines":
            self.count = max(1, scale.lines)
            self.nbytes = self.count * RECORD_SIZE
        else:
            self.nbytes = self.count = scale.stream_bytes
        self.buffer = bytearray(impls.INTO_SIZE)
        self.client = None

    def prepare(self):
        self.finish()
        self.client = self.impl.connect(self.address)

    def run(self):
        client = self.client
        client.send(b"%d\n" % self.nbytes)
        if self.how == "lines":
            got = client.lines(self.count)
        elif self.how == "into":
            got = client.stream_into(self.buffer)
        else:
            got = client.stream()
        if got != self.count:
            raise ConnectionError(f"received {got} of {self.count} from the peer")
        return got

    def finish(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    close = finish


class _SyscallSession(Session):
    def __init__(self, impl, address, count, loop):
        impl.check()
        self.impl, self.address, self.count, self.loop = impl, address, count, loop
        self.breakdown = {}

    def run(self):
        per_query, self.breakdown = syscalls.count(
            self.impl.name, self.address, self.count, self.loop
        )
        return per_query


def _count(iterations):
    """A pure-Python loop; returns the seconds it took."""
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i & 7
    return time.perf_counter() - start


class _GilSession(Session):
    """A counter timed alone, then while another thread waits in recv()."""

    def __init__(self, impl, address, window):
        self.window = window
        # The receive must outlast the timed window, whatever the machine.
        self.client = impl.connect(address, timeout=window * 2)
        self.iterations = max(1000, int(1000 / _count(1000) * window))

    def run(self):
        alone = _count(self.iterations)
        waiter = threading.Thread(target=self.client.wait_silence, daemon=True)
        waiter.start()
        time.sleep(self.window / 4)  # let it enter the receive
        during = _count(self.iterations)
        waiter.join(impls.TIMEOUT)
        if waiter.is_alive():
            raise RuntimeError("the receive did not time out")
        return 100.0 * alone / during

    def close(self):
        self.client.close()


class _ThreadsSession(Session):
    """``n`` worker threads, kept across runs; a run releases them at once."""

    def __init__(self, impl, address, total, n):
        self.per_thread = max(1, total // n)
        self.work = self.per_thread * n
        self.clients = []
        self.threads = []
        self.errors = []
        self._start = threading.Barrier(n + 1, timeout=BARRIER_TIMEOUT)
        self._done = threading.Barrier(n + 1, timeout=BARRIER_TIMEOUT)
        try:
            for _ in range(n):
                self.clients.append(impl.connect(address))
                self.clients[-1].queries(20)
            for i, client in enumerate(self.clients):
                thread = threading.Thread(
                    target=self._work, args=(client,), name=f"bench-{i}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
        except BaseException:
            self.close()
            raise

    def _work(self, client):
        try:
            while True:
                self._start.wait()
                try:
                    client.queries(self.per_thread)
                except Exception as exc:  # re-raised by run()
                    self.errors.append(exc)
                self._done.wait()
        except threading.BrokenBarrierError:
            return

    def run(self):
        self._start.wait()
        self._done.wait()
        if self.errors:
            raise self.errors[0]
        return self.work

    def close(self):
        # Aborting the barriers ends the idle threads' loops.
        self._start.abort()
        self._done.abort()
        for thread in self.threads:
            thread.join(impls.TIMEOUT)
        for client in self.clients:
            client.close()
        for thread in self.threads:
            thread.join(impls.TIMEOUT)
            if thread.is_alive():
                raise RuntimeError(f"benchmark thread {thread.name} did not stop")


# -- the suite ---------------------------------------------------------------

_UNTIL = "recv_until(b'\\n')"

WORKLOADS = [
    Query("query", "query round trip, 32 B (send+recv)", "round trips/s", "echo"),
    Stream(
        "stream",
        "stream to EOF with recv(4096)",
        "MB/s",
        "stream",
    ),
    Stream(
        "stream-into",
        "stream to EOF into a 64 KiB buffer",
        "MB/s",
        "into",
        apis={
            "cython": "recv_into(buf)",
            "python": "recv_into(buf)",
            "socs": "recv(65536) (socs has no recv_into)",
            "plain": "sock.recv_into(buf)",
        },
    ),
    Stream(
        "lines",
        "64-byte line records",
        "lines/s",
        "lines",
        apis={
            "cython": _UNTIL,
            "python": _UNTIL,
            "socs": "recv(4096) + bytes.find (socs has no line reader)",
            "plain": "sock.makefile('rb').readline()",
        },
    ),
    QueryCpu(
        "cpu",
        "client CPU (user+sys) per round trip",
        "us/query",
        "echo",
        higher_is_better=False,
    ),
    Syscalls(
        "syscalls",
        "system calls per round trip (strace)",
        "calls/query",
        "echo",
        higher_is_better=False,
        repeats=1,
    ),
    Syscalls(
        "syscalls-safe",
        "system calls per stale-safe query (strace)",
        "calls/query",
        "echo",
        higher_is_better=False,
        repeats=1,
        group="syscalls",
        loop="safe_queries",
        apis={
            "cython": "query(msg)",
            "python": "query(msg)",
            "socs": "select(..., 0) drain, send, recv",
            "plain": "select(..., 0) drain, sendall, recv",
        },
    ),
    GilRelease(
        "gil",
        "pure-Python thread's speed while another waits in recv()",
        "% of alone",
        "echo",
    ),
    Threads(1),
    Threads(4),
    Threads(16),
]


def select(names=None):
    """The workloads named (by name or group) in ``names``, in suite order.

    Raises
    ------
    ValueError
        A name matches no workload.
    """
    if not names:
        return list(WORKLOADS)
    unknown = [n for n in names if not any(n in (w.name, w.group) for w in WORKLOADS)]
    if unknown:
        known = sorted({w.name for w in WORKLOADS} | {w.group for w in WORKLOADS})
        raise ValueError(
            f"unknown workload {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return [w for w in WORKLOADS if w.name in names or w.group in names]


def by_name(name):
    """The workload called ``name``."""
    for workload in WORKLOADS:
        if workload.name == name:
            return workload
    raise KeyError(name)
