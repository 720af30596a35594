"""The project's performance targets, checked against one side-by-side run.

These are development goals, not something users see: ``python -m socs_tcp
bench`` prints no verdict. They are checked only in timed runs
(``pytest benchmarks --benchmark-only``); CI, which runs the benchmarks
untimed on a shared machine, skips them.
"""

import operator

import pytest

from socs_tcp.bench import run, workloads

#: (goal, workload, library, comparison, threshold, against): ``against`` is a
#: library on the same workload, a (workload, library) pair, or None for the
#: median itself.
TARGETS = [
    ("stream: cython >= 5x socs.tcp", "stream", "cython", ">=", 5.0, "socs"),
    ("stream: python >= 3x socs.tcp", "stream", "python", ">=", 3.0, "socs"),
    ("query: cython >= 1.1x socs.tcp", "query", "cython", ">=", 1.1, "socs"),
    ("CPU per query: cython <= 0.7x socs.tcp", "cpu", "cython", "<=", 0.7, "socs"),
    ("syscalls per query: cython <= 3", "syscalls", "cython", "<=", 3.0, None),
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


@pytest.fixture(scope="module")
def results(request):
    if request.config.getoption("benchmark_disable"):
        pytest.skip("targets are checked in timed runs only (--benchmark-only)")
    names = {t[1] for t in TARGETS} | {t[5][0] for t in TARGETS if type(t[5]) is tuple}
    return run.run(workloads.select(names), workloads.DEFAULT)


@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
def test_target(results, target):
    goal, workload, library, op, threshold, against = target
    value = results.median(workload, library)
    if isinstance(against, str):
        against = (workload, against)
    base = results.median(*against) if against else 1.0
    if value is None or not base:
        pytest.skip(f"{goal}: not measured here")
    assert OPS[op](value / base, threshold), f"{goal}: {value / base:.3f}"
