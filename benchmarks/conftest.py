"""pytest-benchmark suites over the workloads of ``python -m socs_tcp bench``.

The workloads are those of :mod:`socs_tcp.bench.workloads`, not copies: each
test runs one workload on one library, as the command does. Each workload is
a group; the ids name the libraries. ``extra_info["value"]`` holds the
workload's own number (round trips/s, MB/s, system calls per query).

Track regressions::

    pytest benchmarks --benchmark-only --benchmark-autosave
    pytest benchmarks --benchmark-only --benchmark-compare

CI runs every benchmark once, untimed, so none can rot (the targets in
``test_targets.py`` are checked only in timed runs)::

    pytest benchmarks --benchmark-disable -q
"""

import dataclasses
import statistics

import pytest

from socs_tcp.bench import clients, workloads
from socs_tcp.bench.peer import Peer
from socs_tcp.bench.run import pinned

#: Work per round; pytest-benchmark decides how many rounds.
SCALE = dataclasses.replace(workloads.QUICK, repeats=1)


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


@pytest.fixture(params=list(clients.LIBRARIES))
def library(request):
    """The library under test; skipped where it is not installed."""
    why = clients.available(request.param)
    if why is not None:
        pytest.skip(why)
    return request.param


@pytest.fixture
def measure(library, peers, benchmark):
    """``measure(name)``: benchmark the workload ``name`` on ``library``."""

    def measure(name):
        (workload,) = workloads.select([name])
        benchmark.group = name
        peer = peers(workload.peer)
        values = []
        try:
            with pinned(peer.pid, workload.pinned):
                benchmark.pedantic(
                    lambda: values.append(workload.run(library, peer.address, SCALE)),
                    rounds=1 if workload.once else 3,
                )
        except NotImplementedError:
            pytest.skip(f"{library} has no call for {name}")
        except workloads.Skip as exc:
            pytest.skip(str(exc))
        benchmark.extra_info.update(
            workload=name, unit=workload.unit, value=statistics.median(values)
        )

    return measure
