"""Promises of the front that races and odd arguments once broke, on both
transports: pacing before clearing, a refused reconnect that changes nothing,
recovery after a driver closes ``comm``, fork safety, the traffic trace's own
switch, ``__index__`` counts, empty multi-dimensional sends and the
constructor's arguments.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

from socs_tcp.errors import NotConnected
from tests.conftest import BOUND

TIMEOUT = 2.0


def ECHO(command):
    return b"re:" + command


# -- pacing, then clearing ---------------------------------------------------


def test_query_paces_first_then_clears_what_arrived_during_the_wait(
    Interface, fake_device
):
    # The acknowledgement of SET comes 0.1 s after it, during query's pacing
    # wait of 0.4 s: it is stale by the time Q? goes out, and is not its reply.
    dev = fake_device({b"SET": b"ACK", b"Q?": b"VALUE"}, latency=0.1)
    with Interface(*dev.address, TIMEOUT, send_interval=0.4) as iface:
        for _ in range(3):
            iface.send(b"SET\n")
            assert iface.query(b"Q?", clear=True) == b"VALUE"
        assert dev.connections == 1


# -- reconnect() refused -----------------------------------------------------


def test_a_refused_reconnect_leaves_the_healthy_connection_open(Interface, fake_device):
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT, reconnect_interval=5.0) as iface:
        first = iface.comm
        with pytest.raises(NotConnected, match="reconnect_interval=5 s"):
            iface.reconnect()
        assert iface.comm is first and iface.connected
        assert iface.query(b"A") == b"re:A"
        assert dev.connections == 1


# -- a driver's own self.comm.close() ----------------------------------------


@pytest.mark.parametrize("clear", [True, False])
def test_query_recovers_after_the_driver_closes_comm(Interface, fake_device, clear):
    dev = fake_device(ECHO)

    class Driver(Interface):
        def close(self):  # the PMX driver's pattern
            self.comm.close()

    with Driver(*dev.address, TIMEOUT) as iface:
        for n in range(3):
            iface.close()
            assert iface.query(b"Q%d" % n, clear=clear) == b"re:Q%d" % n
        assert dev.connections == 4


# -- fork --------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_query_connects_anew_and_leaves_the_parent_alone(
    Interface, fake_device
):
    dev = fake_device({b"SLOW": b"slow"}, default=b"fast", latency=0.4)
    iface = Interface(*dev.address, TIMEOUT)
    try:
        parent_comm = iface.comm
        replies = []
        worker = threading.Thread(target=lambda: replies.append(iface.query(b"SLOW")))
        worker.start()
        dev.wait_received(1)  # the worker is inside query(), holding its lock
        with warnings.catch_warnings():
            # 3.12+ warns that forking a threaded process may deadlock:
            # that is the case under test.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: bounded by SIGALRM's default action
            status = 1
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(int(BOUND))
                fresh = iface.comm is None
                reply = iface.query(b"CHILD")
                status = 0 if fresh and reply == b"fast" else 3
            finally:
                os._exit(status)
        give_up = time.monotonic() + 2 * BOUND
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > give_up:
                break
            time.sleep(0.01)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        worker.join(BOUND)
        assert done, "the child deadlocked"
        assert os.waitstatus_to_exitcode(status) == 0
        assert replies == [b"slow"]
        assert iface.comm is parent_comm and iface.connected
        assert iface.query(b"PARENT") == b"fast"
        assert dev.connections == 2  # the parent's, and the child's own
    finally:
        iface.close()


# -- the traffic trace has its own switch ------------------------------------

_TRACE_CHILD = """
import logging, logging.config, sys
from socs_tcp import _backend, _trace
from socs_tcp.testing import FakeDevice
logging.config.dictConfig({
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"named": {"format": "%(name)s|%(message)s"}},
    "handlers": {
        "err": {
            "class": "logging.StreamHandler", "level": "DEBUG", "formatter": "named"
        }
    },
    "loggers": {"socs_tcp": {"level": "DEBUG", "handlers": ["err"]}},
})
if sys.argv[2] == "switch":
    _trace.trace_traffic()
with FakeDevice({b"PASS hunter2": b"ok"}) as dev:
    iface = _backend.interface_on(sys.argv[1])(*dev.address, 2.0)
    iface.send(b"PASS hunter2\\n")
    assert iface.recv_until() == b"ok\\n"
    assert iface.query(b"PASS hunter2") == b"ok"
    iface.close()
"""


@pytest.mark.parametrize(
    "how, traced",
    [("dictConfig", False), ("switch", True), ("environment", True)],
)
def test_only_the_trace_switch_turns_the_traffic_trace_on(backend, how, traced):
    env = dict(os.environ)
    env.pop("SOCS_TCP_TRACE", None)
    if how == "environment":
        env["SOCS_TCP_TRACE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_TRACE_CHILD)]
        + [backend.Transport.backend, how],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    trace = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("socs_tcp.traffic|")
    ]
    if traced:  # both directions, of send() and of query()
        assert len(trace) == 4 and "hunter2" in trace[0], done.stderr
    else:
        assert trace == [], done.stderr


# -- counts given as any integer ---------------------------------------------


class Four:
    def __index__(self):
        return 4


@pytest.mark.parametrize(
    "nbytes", [np.uint16(4), np.int64(4), Four()], ids=["uint16", "int64", "index"]
)
def test_receives_into_a_buffer_take_any_index_integer(Interface, make_peer, nbytes):
    def serve(conn):
        conn.sendall(b"abcdefgh")
        conn.recv(1)

    peer = make_peer(serve)
    with Interface("127.0.0.1", peer.port, TIMEOUT) as iface:
        buffer = bytearray(6)
        assert iface.recv_exactly_into(buffer, nbytes) == 4
        assert buffer[:4] == b"abcd"
        assert iface.recv_into(buffer, nbytes, timeout=TIMEOUT) == 4
        assert buffer[:4] == b"efgh"


# -- empty multi-dimensional sends -------------------------------------------


@pytest.mark.parametrize("trace", [False, True], ids=["quiet", "traced"])
def test_sending_an_empty_2d_array_sends_nothing_and_returns(
    Interface, fake_device, request, trace
):
    if trace:
        request.getfixturevalue("traffic_trace")
    dev = fake_device(ECHO)
    with Interface(*dev.address, TIMEOUT) as iface:
        assert iface.send(np.zeros((0, 3))) is None
        assert iface.send(np.zeros((3, 0), dtype=np.uint8)) is None
        assert iface.query(b"NEXT") == b"re:NEXT"  # nothing went before it
        assert dev.received == [b"NEXT"]


# -- the constructor's arguments ---------------------------------------------


def test_a_subclass_may_set_managed_attributes_before_init(Interface, fake_device):
    dev = fake_device(ECHO)

    class Early(Interface):
        def __init__(self, *args):
            self.comm = None  # as socs.tcp allows
            self.connected = False  # an agent's own flag
            super().__init__(*args)

    with Early(*dev.address, TIMEOUT) as iface:
        assert iface.comm is not None
        assert iface.query(b"A") == b"re:A"


def test_timeout_takes_any_real_number(Interface, fake_device):
    dev = fake_device(ECHO)
    with Interface(*dev.address, np.float32(1.0)) as iface:
        assert iface.timeout == 1.0 and type(iface.timeout) is float
        assert iface.query(b"A") == b"re:A"


@pytest.mark.parametrize(
    "option, value",
    [
        ("keepalive", (True, True, True)),
        ("keepalive", (1, 1)),
        ("idle_check", -1),
        ("idle_check", float("nan")),
        ("idle_check", "0.1"),
        ("idle_check", float("inf")),
    ],
)
def test_bad_options_are_refused_before_connecting(Interface, make_peer, option, value):
    peer = make_peer()
    with pytest.raises((TypeError, ValueError), match=option):
        Interface("127.0.0.1", peer.port, TIMEOUT, **{option: value})
    assert not peer.connections
