"""The bench's rows and columns, run once each with tiny counts: bounded, untimed.

They check that each row measures what it says (the records, blocks and
bytes asked for all arrive) and that the table compares every cell to
socs.tcp and to the plain socket; how fast anything is belongs to the
benchmarks, never to a test.
"""

import itertools
import os
import socket
import tempfile
import threading
import time

import pytest

from socs_tcp.bench import clients, native, run, workloads
from socs_tcp.bench.peer import BLOCK_SIZE, RECORD_SIZE, Peer, block_reply
from tests.conftest import BACKENDS, IDS

TINY = workloads.Scale(1, 20, 1 << 16, 64, 20, 0.01, 2)


def _row(name, library):
    (workload,) = workloads.select([name])
    with Peer(workload.peer) as peer:
        return workload.run(library, peer.address, TINY)


@pytest.fixture(params=BACKENDS, ids=[IDS[b] for b in BACKENDS])
def transport(request):
    """The bench's name of a socs_tcp transport built here."""
    return request.param


# -- the block peer and the query_block row ---------------------------------


def test_block_reply_is_a_definite_block_with_terminators_inside():
    reply = block_reply()
    assert reply.startswith(b"#7%d" % BLOCK_SIZE) and reply.endswith(b"\n")
    data = reply[2 + 7 : -1]
    assert len(data) == BLOCK_SIZE
    assert b"\n" in data and b"#" in data  # a reader that stops there is wrong


def test_block_peer_answers_every_line_with_one_block():
    with Peer("block") as peer, socket.create_connection(peer.address, 5) as sock:
        sock.settimeout(5)
        sock.sendall(b"CURV?\nCURV?\n")
        with sock.makefile("rb") as file:
            assert file.read(2 * len(block_reply())) == 2 * block_reply()


@pytest.mark.parametrize("library", ["socket", "asyncio"])
def test_query_block_row_receives_every_block(library):
    with Peer("block") as peer, clients.connect(library, peer.address, 5) as client:
        if library == "asyncio":
            assert client.loops["ask_block"](2) == 2
        else:
            assert [client.call("ask_block")() for _ in range(2)] == [BLOCK_SIZE] * 2
    assert _row("query_block", library) > 0


def test_query_block_row_on_pyvisa_py_or_what_to_install():
    # pyvisa-py comes with the bench extra; without it, the column is left
    # out with a line that says what to install.
    why = clients.available("pyvisa")
    if why is not None:
        assert "pip install pyvisa pyvisa-py" in why
        return
    with Peer("block") as peer, clients.connect("pyvisa", peer.address, 5) as client:
        assert client.call("ask_block")() == BLOCK_SIZE
    assert _row("query_block", "pyvisa") > 0


def test_query_block_row_on_socs_tcp(transport):
    assert _row("query_block", transport) > 0


def test_query_block_row_refuses_a_short_block():
    with Peer("echo") as peer, clients.connect("socket", peer.address, 5) as client:
        client.send(b"#15abc")  # echoed: a 5-byte block, then "CURV?" echoed
        with pytest.raises(ConnectionError, match="terminator"):
            client.call("ask_block")()
        client.send(b"#x")
        with pytest.raises(ConnectionError, match="not a definite-length block"):
            client.call("ask_block")()


# -- lines, iterated ----------------------------------------------------------


@pytest.mark.parametrize("library", [*BACKENDS, "socket", "asyncio"])
def test_lines_iter_row_counts_every_record_to_eof(library):
    with Peer("lines") as peer, clients.connect(library, peer.address, 5) as client:
        client.send(b"%d\n" % (100 * RECORD_SIZE))
        assert client.count_lines() == 100
    assert _row("lines-iter", library) > 0


def test_lines_iter_row_is_dash_for_a_library_without_iteration():
    with pytest.raises(NotImplementedError):
        _row("lines-iter", "socs" if clients.available("socs") is None else "c")


# -- many threads, and the stale-safe query ---------------------------------


@pytest.mark.parametrize("library", [BACKENDS[-1], "socket"])
def test_threads_64_row_runs_64_connections(library):
    assert _row("threads-64", library) > 0


def test_threads_row_that_loses_a_connection_fails_at_once(make_peer):
    served = itertools.count()

    def echo_three(conn):  # the fourth connection is closed on arrival
        if next(served) >= 3:
            conn.close()
        while data := conn.recv(4096):
            conn.sendall(data)

    peer = make_peer(echo_three)
    threads = threading.active_count()
    began = time.monotonic()
    with pytest.raises(ConnectionError):
        workloads.select(["threads-16"])[0].run("socket", (peer.host, peer.port), TINY)
    assert time.monotonic() - began < 5  # not the start barrier's 60 s
    # No worker left waiting (the peer's handlers end as their clients close).
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == threads


@pytest.mark.parametrize("library", [*BACKENDS, "socket"])
def test_query_safe_row_runs(library):
    assert _row("query-safe", library) > 0


# -- the C client -------------------------------------------------------------


def test_c_client_builds_here_and_answers_each_loop():
    assert clients.available("c") is None  # the machine has a C compiler
    with Peer("echo") as peer, clients.connect("c", peer.address, 5) as client:
        before = client.cpu_time()
        client.times("ask", 200)
        assert client.cpu_time() >= before >= 0
    with Peer("stream") as peer, clients.connect("c", peer.address, 5) as client:
        client.send(b"100000\n")
        assert client.to_eof(4096) == 100000


@pytest.mark.parametrize("name", ["query", "cpu", "stream", "threads-16"])
def test_c_client_rows(name):
    assert _row(name, "c") > 0


@pytest.mark.parametrize("name", ["lines", "gil", "query_block", "query-safe"])
def test_c_client_has_no_call_for(name):
    with pytest.raises(NotImplementedError):
        _row(name, "c")


def test_c_client_that_cannot_connect_says_so():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        refused = "C client: error: connect: Connection refused"
        with pytest.raises(ConnectionError, match=refused):
            clients.connect("c", ("127.0.0.1", port), 5)


def test_without_a_compiler_the_c_column_says_what_to_install(monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", "")
    assert native.compiler() is None


def test_the_c_client_is_built_only_into_a_private_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(native, "executable", native.executable.__wrapped__)
    built = native.executable()
    assert os.stat(os.path.dirname(built)).st_mode & 0o777 == 0o700
    os.chmod(os.path.dirname(built), 0o755)  # another user could plant a client
    with pytest.raises(ImportError, match="not private to this user; remove it"):
        native.executable()


# -- the table ----------------------------------------------------------------

LIBRARIES = ["cython", "socs", "socket", "c"]


def _results():
    (query,) = workloads.select(["query"])
    results = run.Results([query], list(LIBRARIES), workloads.QUICK)
    results.samples["query"] = {"cython": [30.0], "socs": [10.0], "socket": [20.0]}
    results.notes["query"] = {"c": "-"}
    return results


def test_every_row_has_its_ratios_to_socs_tcp_and_the_plain_socket():
    lines = run.table(_results()).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("query "))
    assert lines[row].split()[-4:] == ["30", "10", "20", "-"]
    assert lines[row + 1].split() == ["vs", "socs.tcp", "3.00x", "2.00x"]
    assert lines[row + 2].split() == ["vs", "plain", "socket", "1.50x", "0.50x"]


def test_a_small_ratio_keeps_two_significant_digits():
    results = _results()
    results.samples["query"]["c"] = [0.082]
    lines = run.table(results).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("query "))
    assert lines[row + 2].split()[-1] == "0.0041x"


def test_ratio_against_any_library():
    results = _results()
    assert results.baselines == ["socs", "socket"]
    assert results.ratio("query", "cython") == 3.0  # socs.tcp by default
    assert results.ratio("query", "cython", "socket") == 1.5
    assert results.ratio("query", "c", "socket") is None
    assert run.to_json(results)["baselines"] == ["socs", "socket"]


def test_without_socs_the_ratios_are_to_the_plain_socket_only():
    results = _results()
    results.libraries.remove("socs")
    del results.samples["query"]["socs"]
    lines = run.table(results).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("query "))
    assert lines[row + 1].split() == ["vs", "plain", "socket", "1.50x"]
    assert not lines[row + 2].strip().startswith("vs")


def test_a_ratio_pairs_the_runs_made_side_by_side():
    # Each repeat ran both side by side; the machine's speed changed between
    # repeats. Run by run cython is 2x, 0.5x and 1.5x the socket: 1.5x. The
    # medians alone (20 and 20) would say 1x.
    results = _results()
    results.samples["query"] = {
        "cython": [10.0, 20.0, 30.0],
        "socket": [5.0, 40.0, 20.0],
    }
    assert results.paired("query", "cython", "socket") == [2.0, 0.5, 1.5]
    assert results.ratio("query", "cython", "socket") == 1.5
    assert results.median("query", "cython") == results.median("query", "socket")


def test_a_library_that_stopped_early_is_paired_on_the_repeats_it_ran():
    results = _results()
    results.samples["query"] = {"cython": [30.0, 60.0], "socket": [20.0, 20.0, 5.0]}
    assert results.paired("query", "cython", "socket") == [1.5, 3.0]


def test_a_ratio_whose_middle_runs_span_1x_is_marked_unclear():
    results = _results()
    results.samples["query"] = {
        "cython": [9.0, 11.0, 9.5, 10.5, 10.0],
        "socket": [10.0] * 5,
        "socs": [5.0, 5.1, 4.9, 5.0, 5.0],
    }
    lines = run.table(results).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("query "))
    assert lines[row + 1].split()[2] == "2.00x"  # clearly faster than socs.tcp
    assert lines[row + 2].split()[3] == "~1.00x"  # no clear difference
    assert not results.unclear("query", "cython", "socs")
