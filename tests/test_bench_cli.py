"""Smoke tests of ``python -m socs_tcp bench`` and its peer: bounded, untimed.

They check that the command runs and reports what it should; how fast
anything is belongs to the benchmarks, never to a test.
"""

import json
import subprocess
import sys

import pytest

from socs_tcp.bench import impls, syscalls
from socs_tcp.bench.peer import RECORD_SIZE, Peer, record

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
    done = _bench("--quick", "--only", "query", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "query" in done.stdout and "targets:" in done.stdout
    assert "query" in done.stderr  # progress
    data = json.loads(out.read_text())
    assert data["format"] == "socs_tcp-bench/1"
    env = data["environment"]
    for key in ("cpu", "cpus", "python", "socs_tcp", "socs_tcp_backend", "socs"):
        assert key in env
    assert set(data["implementations"]) == {"cython", "python", "socs", "plain"}
    assert [w["name"] for w in data["workloads"]] == ["query"]
    results = data["workloads"][0]["results"]
    ran = [n for n, i in data["implementations"].items() if i["available"]]
    assert sorted(results) == sorted(ran)
    for cell in results.values():
        assert cell["error"] is None
        assert len(cell["samples"]) == data["settings"]["scale"]["repeats"]
        assert cell["median"] > 0
    assert data["baseline"] in ran
    assert results[data["baseline"]]["ratio"] == pytest.approx(1.0)
    assert all("met" in t for t in data["targets"])


def test_unknown_workload_is_refused():
    done = _bench("--only", "nonsense")
    assert done.returncode == 2
    assert "unknown workload nonsense" in done.stderr


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_peer_streams_what_is_asked_and_stops(mode):
    with Peer(mode) as peer:
        client = impls.get("plain").connect(peer.address, timeout=5)
        try:
            if mode == "lines":
                client.send(b"%d\n" % (3 * RECORD_SIZE))
                data = client.sock.makefile("rb").read()
                assert data == record(0) + record(1) + record(2)
            else:
                client.send(b"100000\n")
                assert client.stream() == 100000
        finally:
            client.close()
    assert peer._proc.returncode is not None


def test_echo_peer_serves_every_implementation():
    with Peer("echo") as peer:
        for impl in impls.implementations():
            if impl.available:
                client = impl.connect(peer.address, timeout=5)
                try:
                    client.queries(3)
                finally:
                    client.close()


def test_syscall_log_is_counted_between_markers():
    log = [
        f'7 newfstatat(AT_FDCWD, "{syscalls.MARKER}", 0x1, 0) = -1 ENOENT',
        '7 sendto(3, "x", 1, MSG_NOSIGNAL, NULL, 0) = 1',
        "7 poll([{fd=3, events=POLLIN}], 1, 10000) = 1",
        '7 recvfrom(3, "x", 4096, 0, NULL, NULL) = 1',
        "7 --- SIGCHLD {si_signo=SIGCHLD} ---",
        f'7 newfstatat(AT_FDCWD, "{syscalls.MARKER}", 0x1, 0) = -1 ENOENT',
        "7 close(3) = 0",
    ]
    assert syscalls.parse(log) == {"sendto": 1, "poll": 1, "recvfrom": 1}
    with pytest.raises(ValueError):
        syscalls.parse(log[:3])
