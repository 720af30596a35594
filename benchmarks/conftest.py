"""pytest-benchmark suites over the workloads of ``python -m socs_tcp bench``.

The workloads are those of :mod:`socs_tcp.bench.workloads`, not copies: each
test opens the same session the CLI opens and lets pytest-benchmark time its
runs. Each workload is a group; the ids name the implementations.

Track regressions::

    pytest benchmarks --benchmark-only --benchmark-autosave
    pytest benchmarks --benchmark-only --benchmark-compare

CI runs every benchmark once, untimed, so none can rot::

    pytest benchmarks --benchmark-disable -q
"""

import dataclasses

import pytest

from socs_tcp.bench import impls, workloads
from socs_tcp.bench.peer import Peer
from socs_tcp.bench.placement import placed, shared_cpu

#: Work per round; pytest-benchmark decides how many rounds.
SCALE = dataclasses.replace(workloads.QUICK, repeats=1)

IMPLS = [impl.name for impl in impls.implementations()]


@pytest.fixture(scope="session")
def peers():
    """``peers(mode)``: the peer process for a mode, started on first use."""
    started = {}

    def get(mode):
        if mode not in started:
            started[mode] = Peer(mode)
        return started[mode]

    yield get
    for peer in started.values():
        peer.close()


@pytest.fixture(params=IMPLS)
def impl(request):
    """The implementation under test; skipped where it is not installed."""
    impl = impls.get(request.param)
    try:
        impl.check()
    except impls.Unavailable as exc:
        pytest.skip(str(exc))
    return impl


@pytest.fixture
def measure(request, impl, peers, benchmark):
    """``measure(name)``: benchmark the workload ``name`` on ``impl``."""

    def measure(name):
        workload = workloads.by_name(name)
        try:
            workload.check()
        except RuntimeError as exc:
            benchmark.skipped = True  # no "fixture not used" warning
            pytest.skip(str(exc))
        benchmark.group = workload.name
        peer = peers(workload.peer_mode)
        rounds = 1 if workload.fixed_repeats else _min_rounds(request)
        cpu = shared_cpu() if workload.shared_cpu else None
        with placed([peer.pid], cpu):
            with workload.session(impl, peer.address, SCALE) as session:
                work = benchmark.pedantic(
                    session.run,
                    setup=session.prepare,
                    teardown=session.finish,
                    rounds=rounds,
                    warmup_rounds=0 if workload.fixed_repeats else 1,
                )
                details = getattr(session, "details", {})
        _describe(benchmark, workload, work, details)
        return work

    return measure


def _min_rounds(request):
    try:
        return max(1, int(request.config.getoption("benchmark_min_rounds")))
    except (ValueError, TypeError):
        return 5


def _describe(benchmark, workload, work, details):
    """Record the workload's own number next to pytest-benchmark's times."""
    info = benchmark.extra_info
    info["workload"] = workload.name
    info["unit"] = workload.unit
    info["work_per_round"] = work
    if details:
        info["details"] = details
    stats = getattr(benchmark, "stats", None)
    if workload.fixed_repeats:
        info["value"] = work
    elif stats is not None:
        median = stats.stats.median
        info["value"] = workload.value(work, median, median)
