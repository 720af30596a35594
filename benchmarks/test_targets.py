"""The project's performance targets, checked against one side-by-side run.

These are development goals, not something users see: ``python -m socs_tcp
bench`` prints no verdict. Every target is a ratio of two cells of the same
run (the bench's own interleaved runner, :func:`socs_tcp.bench.run.run`), so
a busy moment of the machine falls on both sides alike and a regression
fails here, in a benchmark, never in the unit tests. They are checked only
in timed runs; CI, which runs the benchmarks untimed on a shared machine,
skips them, and checks only that each target names what the bench runs::

    pytest benchmarks/test_targets.py --benchmark-only -p no:xdist
"""

import operator

import pytest

from socs_tcp.bench import clients, run, workloads

#: (goal, workload, library, comparison, threshold, against): ``against`` is a
#: library on the same workload, a (workload, library) pair, or None for the
#: median itself. A ratio is of the numbers as measured (for a rate, above 1
#: is faster; for a cost, below 1 is cheaper).
TARGETS = [
    # Ahead of the plain socket on every workload.
    ("query: cython >= 1.0x plain socket", "query", "cython", ">=", 1.0, "socket"),
    (
        "query: cython within 1.10x of the C client",
        "query",
        "cython",
        ">=",
        1 / 1.10,
        "c",
    ),
    (
        "stale-safe query(): cython >= 1.0x the plain socket's unsafe pair",
        "query-safe",
        "cython",
        ">=",
        1.0,
        ("query", "socket"),
    ),
    (
        "recv_until lines: cython >= 1.0x makefile readline",
        "lines",
        "cython",
        ">=",
        1.0,
        "socket",
    ),
    (
        "frames(): cython >= 1.0x iterating makefile",
        "lines-iter",
        "cython",
        ">=",
        1.0,
        "socket",
    ),
    ("stream: cython >= 1.0x plain socket", "stream", "cython", ">=", 1.0, "socket"),
    (
        "16 threads: cython >= 0.8x plain socket",
        "threads-16",
        "cython",
        ">=",
        0.8,
        "socket",
    ),
    ("syscalls per send+recv: cython <= 2", "syscalls", "cython", "<=", 2.0, None),
    ("syscalls per query(): cython <= 3", "syscalls-safe", "cython", "<=", 3.0, None),
    # Against socs.tcp, what socs_tcp replaces.
    ("stream: cython >= 5x socs.tcp", "stream", "cython", ">=", 5.0, "socs"),
    ("stream: python >= 3x socs.tcp", "stream", "python", ">=", 3.0, "socs"),
    ("query: cython >= 1.1x socs.tcp", "query", "cython", ">=", 1.1, "socs"),
    ("CPU per query: cython <= 0.7x socs.tcp", "cpu", "cython", "<=", 0.7, "socs"),
    ("syscalls per query: python <= 4", "syscalls", "python", "<=", 4.0, None),
    ("GIL: a thread keeps >= 90% while cython waits", "gil", "cython", ">=", 90, None),
    (
        "16 threads: cython >= 1.5x its 1 thread",
        "threads-16",
        "cython",
        ">=",
        1.5,
        ("threads-1", "cython"),
    ),
]

OPS = {">=": operator.ge, "<=": operator.le}


def workloads_of(targets):
    """The workloads ``targets`` compare, in table order."""
    names = {t[1] for t in targets}
    names |= {t[5][0] for t in targets if isinstance(t[5], tuple)}
    return workloads.select(names)


def ratio(results, target):
    """The target's ratio in ``results``, or None where a side did not run.

    Against a library on the same row, the bench's ratio (of runs made side
    by side); against another row, the ratio of the two medians.
    """
    _, workload, library, _, _, against = target
    if isinstance(against, str):
        return results.ratio(workload, library, against)
    value = results.median(workload, library)
    base = results.median(*against) if against else 1.0
    return None if value is None or not base else value / base


@pytest.fixture(scope="module")
def results(request):
    if request.config.getoption("benchmark_disable"):
        pytest.skip("targets are checked in timed runs only (--benchmark-only)")
    return run.run(workloads_of(TARGETS), workloads.DEFAULT)


@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
def test_target(results, target):
    goal, _, _, op, threshold, _ = target
    measured = ratio(results, target)
    if measured is None:
        pytest.skip(f"{goal}: not measured here")
    assert OPS[op](measured, threshold), f"{goal}: {measured:.3f}"


# -- the targets themselves, checked in every run, timed or not --------------


def test_every_target_names_a_row_and_libraries_the_bench_runs():
    known = {w.name for w in workloads.WORKLOADS}
    for goal, workload, library, op, _, against in TARGETS:
        assert workload in known and library in clients.LIBRARIES, goal
        assert op in OPS, goal
        if isinstance(against, str):
            assert against in clients.LIBRARIES, goal
        elif against is not None:
            assert against[0] in known and against[1] in clients.LIBRARIES, goal


def test_a_target_is_the_ratio_of_two_cells_of_one_run():
    (query,) = workloads.select(["query"])
    results = run.Results([query], ["cython", "socs", "socket", "c"], workloads.QUICK)
    results.samples["query"] = {"cython": [30.0], "socs": [10.0], "socket": [20.0]}
    results.notes["query"] = {"c": "-"}
    assert ratio(results, ("", "query", "cython", ">=", 1, ("query", "socket"))) == 1.5
    assert ratio(results, ("", "query", "cython", ">=", 1, "socs")) == 3.0
    assert ratio(results, ("", "query", "socs", "<=", 2, None)) == 10.0
    assert ratio(results, ("", "query", "cython", ">=", 1, "c")) is None
