"""Smoke tests of ``python -m socs_tcp bench`` and its peer: bounded, untimed.

They check that the command runs and reports what it should; how fast
anything is belongs to the benchmarks, never to a test.
"""

import json
import subprocess
import sys

import pytest

from socs_tcp.bench import clients, workloads
from socs_tcp.bench.peer import RECORD_SIZE, Peer, record
from socs_tcp.interface import TCPInterface

#: Seconds the command may take; --quick on one workload needs a few.
LIMIT = 120


def _bench(*args):
    return subprocess.run(
        [sys.executable, "-m", "socs_tcp", "bench", *args],
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )


def test_quick_run_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    done = _bench("--quick", "--only", "query,cpu", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "query" in done.stdout and "socs_tcp cython" in done.stdout
    assert "MISSED" not in done.stdout and "target" not in done.stdout
    assert "query" in done.stderr  # progress
    data = json.loads(out.read_text())
    assert data["format"] == "socs_tcp-bench/2"
    assert {"python", "socket", "asyncio"} <= set(data["libraries"])
    assert [w["name"] for w in data["workloads"]] == ["query", "cpu"]
    for workload in data["workloads"]:
        assert set(workload["samples"]) == set(data["libraries"])
        for runs in workload["samples"].values():
            assert len(runs) == data["scale"]["repeats"]
            assert all(value > 0 for value in runs)
    assert data["baseline"] in data["libraries"]


def test_unknown_workload_is_refused():
    done = _bench("--only", "nonsense")
    assert done.returncode == 2
    assert "unknown workload nonsense" in done.stderr


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_peer_streams_what_is_asked_and_stops(mode):
    with Peer(mode) as peer, clients.connect("socket", peer.address, 5) as client:
        if mode == "lines":
            client.send(b"%d\n" % (3 * RECORD_SIZE))
            assert [client.call("readline")() for _ in range(3)] == [
                record(0),
                record(1),
                record(2),
            ]
        else:
            client.send(b"100000\n")
            assert client.to_eof(4096) == 100000
    assert peer._proc.returncode is not None


def test_echo_peer_serves_every_library():
    with Peer("echo") as peer:
        for name in clients.LIBRARIES:
            if clients.available(name) is None:
                with clients.connect(name, peer.address, 5) as client:
                    client.times("ask", 3)


COMPILED = "cython" if clients.available("cython") is None else "python"


#: The rows each library has no call for (the table shows ``-``).
NO_CALL = {
    "asyncio": {"query-safe", "syscalls-safe"},  # no stale-input drop
    # query_block arrived with the block protocols.
    COMPILED: set() if hasattr(TCPInterface, "query_block") else {"query_block"},
}


@pytest.mark.parametrize("library", [COMPILED, "asyncio"])
def test_every_workload_runs_once(library):
    scale = workloads.Scale(1, 20, 1 << 16, 64, 20, 0.01, 2)
    for workload in workloads.WORKLOADS:
        with Peer(workload.peer) as peer:
            try:
                assert workload.run(library, peer.address, scale) > 0
            except workloads.Skip:
                pass  # no strace here
            except NotImplementedError:
                assert workload.name in NO_CALL[library]


def test_syscall_log_is_counted_between_markers():
    log = [
        f'7 newfstatat(AT_FDCWD, "{workloads.MARKER}", 0x1, 0) = -1 ENOENT',
        '7 sendto(3, "x", 1, MSG_NOSIGNAL, NULL, 0) = 1',
        "7 poll([{fd=3, events=POLLIN}], 1, 10000) = 1",
        '7 recvfrom(3, "x", 4096, 0, NULL, NULL) = 1',
        "7 --- SIGCHLD {si_signo=SIGCHLD} ---",
        f'7 newfstatat(AT_FDCWD, "{workloads.MARKER}", 0x1, 0) = -1 ENOENT',
        "7 close(3) = 0",
    ]
    assert workloads.parse(log) == {"sendto": 1, "poll": 1, "recvfrom": 1}
    with pytest.raises(ValueError):
        workloads.parse(log[:3])
