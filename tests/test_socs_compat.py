"""The drop-in promise, checked against the real ``socs.tcp.TCPInterface``.

Each scenario is written once, as a function of the interface class, and
returns what a driver can observe: return values, whether a
``ConnectionError`` was raised, whether ``comm`` is None, attributes, and
what the device received. Each test runs the scenario against ``socs.tcp``
and against ``socs_tcp`` on the backend under test, asserts the outcomes are
equal, and asserts that shared outcome against what the socs page promises.

Left out on purpose: output text (socs prints, ``socs_tcp`` logs) and the
exact exception class (a ``socs_tcp`` timeout is a ``ConnectionError``
subclass). The documented improvements (a ``str`` message raises
``TypeError``; ``recv(0)`` returns at once) are covered in
``test_interface.py``.
"""

import socket
import threading

import pytest

from tests.conftest import BOUND, abort, echo, import_socs, read_exactly, wait_readable

socs = import_socs()

#: Timeout for calls that should succeed.
TIMEOUT = 2.0
#: Timeout for calls that should time out.
SHORT = 0.2

#: What :func:`attempt` returns for a call that raised ``ConnectionError``.
RAISED = "ConnectionError raised"

#: The query of the driver in the socs documentation example.
query_string = b"*IDN?\r\n"
REPLY = b"ACME,PTC,1.0\r\n"


# -- helpers ---------------------------------------------------------------


def attempt(call, *args, **kwargs):
    """Return what ``call`` returns, or :data:`RAISED` for a ConnectionError.

    Any other exception propagates, failing the test.
    """
    try:
        return call(*args, **kwargs)
    except ConnectionError:
        return RAISED


def comm_state(iface):
    """``None`` without a connection, else ``"socket"`` (a real socket)."""
    if iface.comm is None:
        return None
    assert isinstance(iface.comm, socket.socket)
    return "socket"


def port_is(iface, port):
    """True if ``iface.port`` is the int ``port``."""
    return type(iface.port) is int and iface.port == port


def answer(conn):
    """Peer handler: a device that answers every query with :data:`REPLY`."""
    while conn.recv(4096):
        conn.sendall(REPLY)


class Endpoint:
    """A loopback port that refuses connections until :meth:`up`.

    The port stays bound the whole time, so nothing else can take it.
    """

    def __init__(self):
        self.sock = self._bind(0)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.threads = []
        self.errors = []

    @staticmethod
    def _bind(port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.settimeout(BOUND)
        return sock

    def up(self):
        """Start accepting connections (they wait in the backlog)."""
        self.sock.listen(8)

    def down(self):
        """Refuse new connections again; open ones are left alone."""
        self.sock.close()
        self.sock = self._bind(self.port)

    def accept(self):
        """The next connection, waiting up to ``BOUND``."""
        conn, _ = self.sock.accept()
        conn.settimeout(BOUND)
        self.accepted.append(conn)
        return conn

    def serve(self, handler):
        """Accept one connection in a thread and run ``handler`` on it."""

        def run():
            try:
                handler(self.accept())
            except OSError:
                pass  # the client went away, or close() closed the socket
            except Exception as exc:  # reported by close()
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        for thread in self.threads:
            thread.join(BOUND)
            assert not thread.is_alive(), "an endpoint thread did not stop"
        if self.errors:
            raise self.errors[0]


class Net:
    """What a scenario may use: peers, endpoints, and interface clean-up."""

    def __init__(self, make_peer):
        self.peer = make_peer
        self.endpoints = []
        self.interfaces = []

    def endpoint(self):
        endpoint = Endpoint()
        self.endpoints.append(endpoint)
        return endpoint

    def track(self, iface):
        """Close ``iface``'s socket at the end of the test (socs has no close)."""
        self.interfaces.append(iface)
        return iface

    def close(self):
        for iface in self.interfaces:
            if iface.comm is not None:
                iface.comm.close()
        for endpoint in self.endpoints:
            endpoint.close()


@pytest.fixture
def same_outcome(Interface, make_peer):
    """``same_outcome(scenario)``: run it on socs and on ours; return the outcome.

    Fails unless both implementations observe the same thing.
    """
    nets = []

    def run(scenario):
        outcomes = {}
        for name, cls in (("socs", socs.tcp.TCPInterface), ("socs_tcp", Interface)):
            net = Net(make_peer)
            nets.append(net)
            outcomes[name] = scenario(cls, net)
        assert outcomes["socs_tcp"] == outcomes["socs"]
        return outcomes["socs"]

    yield run
    for net in nets:
        net.close()


def device_class(base):
    """The driver of the socs documentation example, on top of ``base``."""

    class Device(base):
        def __init__(self, ip_address, port=501, timeout=10, *args, **kwargs):
            # Setup the TCP Interface
            super().__init__(ip_address, port, timeout)

        def get_data(self):
            self.send(query_string)
            data = self.recv()
            # Optionally perform any decoding required
            return data

    return Device


# -- scenarios -------------------------------------------------------------


def construct_unreachable(cls, net):
    endpoint = net.endpoint()
    iface = net.track(cls("127.0.0.1", endpoint.port, SHORT))
    return {
        "attributes": (iface.ip_address, port_is(iface, endpoint.port), iface.timeout),
        "comm": comm_state(iface),
        "recv": attempt(iface.recv),
        "comm after recv": comm_state(iface),
    }


def echo_round_trip(cls, net):
    peer = net.peer(echo)
    iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
    return {
        "comm": comm_state(iface),
        "send": iface.send(query_string),
        "recv": iface.recv(),
    }


def recv_timeout(cls, net):
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, SHORT))
    comm = iface.comm
    outcome = {"recv": attempt(iface.recv)}
    # The connection is kept, and what arrives later is received.
    peer.wait_connection().sendall(b"late")
    wait_readable(iface.comm)
    outcome.update(same_comm=iface.comm is comm, later=iface.recv())
    return outcome


def send_reconnects_when_device_comes_up(cls, net):
    endpoint = net.endpoint()
    iface = net.track(cls("127.0.0.1", endpoint.port, TIMEOUT))
    outcome = {"comm before": comm_state(iface)}
    endpoint.up()
    outcome["send"] = iface.send(b"hello")
    outcome["comm after"] = comm_state(iface)
    outcome["device got"] = read_exactly(endpoint.accept(), 5)
    return outcome


def send_while_device_down(cls, net):
    endpoint = net.endpoint()
    iface = net.track(cls("127.0.0.1", endpoint.port, SHORT))
    return {
        "first send": attempt(iface.send, b"hello"),
        "second send": attempt(iface.send, b"hello"),
        "comm": comm_state(iface),
    }


def recv_at_eof(cls, net):
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
    peer.wait_connection().shutdown(socket.SHUT_WR)
    return {"recv": iface.recv(), "again": iface.recv(), "comm": comm_state(iface)}


def drop_connection(how, peer, iface):
    """Make the peer end its first connection so that ``iface`` sees a reset."""
    conn = peer.wait_connection(0)
    if how == "abort":
        abort(conn)
    else:  # a close with unread input makes the kernel send a reset
        iface.send(b"unread")
        wait_readable(conn)
        conn.close()
    wait_readable(iface.comm)


def send_after_reset(how):
    def scenario(cls, net):
        peer = net.peer()
        iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
        drop_connection(how, peer, iface)
        return {
            "send": iface.send(b"retried"),
            "comm": comm_state(iface),
            "second connection got": read_exactly(peer.wait_connection(1), 7),
        }

    return scenario


def send_after_reset_with_device_gone(cls, net):
    endpoint = net.endpoint()
    endpoint.up()
    iface = net.track(cls("127.0.0.1", endpoint.port, SHORT))
    conn = endpoint.accept()
    endpoint.down()
    abort(conn)
    wait_readable(iface.comm)
    return {"send": attempt(iface.send, b"lost"), "comm": comm_state(iface)}


def recv_after_reset(cls, net):
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
    abort(peer.wait_connection())
    wait_readable(iface.comm)
    return {"recv": attempt(iface.recv), "comm": comm_state(iface)}


def recv_timeout_with_reset(cls, net):
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, SHORT))
    old_address = iface.comm.getsockname()
    outcome = {"recv": attempt(iface.recv, reset_on_error=True)}
    outcome["comm"] = comm_state(iface)
    outcome["new connection"] = iface.comm.getsockname() != old_address
    new = peer.wait_connection(1)
    outcome["peer sees it"] = new.getpeername() == iface.comm.getsockname()
    iface.send(b"fresh")
    outcome["new connection got"] = read_exactly(new, 5)
    return outcome


def recv_unconnected_with_reset(cls, net):
    endpoint = net.endpoint()
    iface = net.track(cls("127.0.0.1", endpoint.port, SHORT))
    endpoint.up()
    return {
        "recv": attempt(iface.recv, reset_on_error=True),
        "comm": comm_state(iface),
    }


def port_as_string(cls, net):
    peer = net.peer(echo)
    iface = net.track(cls("127.0.0.1", str(peer.port), TIMEOUT))
    iface.send(b"ok")
    return {
        "port": port_is(iface, peer.port),
        "comm": comm_state(iface),
        "echo": iface.recv(),
    }


def recv_bufsize(cls, net):
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
    peer.wait_connection().sendall(b"0123456789")
    wait_readable(iface.comm)
    return {"first": iface.recv(4), "rest": iface.recv(100)}


def send_bytes_like(cls, net):
    payload = bytes(range(256)) * 4096  # 1 MiB: many partial sends
    peer = net.peer()
    iface = net.track(cls("127.0.0.1", peer.port, TIMEOUT))
    conn = peer.wait_connection()
    received = []
    reader = threading.Thread(
        target=lambda: received.append(read_exactly(conn, 4 + len(payload)))
    )
    reader.start()
    outcome = [
        iface.send(bytearray(b"ab")),
        iface.send(memoryview(b"cd")),
        iface.send(payload),
    ]
    reader.join(BOUND)
    assert not reader.is_alive()
    return outcome, received == [b"abcd" + payload]


def flaky_device():
    """Peer handler: a device that resets once, in the middle of a query.

    Its first connection answers one query and resets the connection on the
    next; later connections answer every query.
    """
    connections = []

    def handler(conn):
        connections.append(conn)
        if len(connections) > 1:
            return answer(conn)
        conn.recv(4096)
        conn.sendall(REPLY)
        conn.recv(4096)
        abort(conn)

    return handler


def documented_driver(cls, net):
    Device = device_class(cls)
    peer = net.peer(flaky_device())
    device = net.track(Device("127.0.0.1", port=peer.port, timeout=TIMEOUT))
    return {
        "port": port_is(device, peer.port),
        "get_data": attempt(device.get_data),
        "device resets": attempt(device.get_data),
        "retry": attempt(device.get_data),
        "connections": len(peer.connections),
    }


def documented_driver_agent_loop(cls, net):
    Device = device_class(cls)
    endpoint = net.endpoint()
    device = net.track(Device("127.0.0.1", port=endpoint.port, timeout=TIMEOUT))
    outcome = {"device down": attempt(device.get_data)}
    endpoint.up()
    endpoint.serve(answer)
    outcome["device up"] = attempt(device.get_data)
    return outcome


# -- tests -----------------------------------------------------------------


def test_construction_against_closed_port_leaves_comm_none(same_outcome):
    assert same_outcome(construct_unreachable) == {
        "attributes": ("127.0.0.1", True, SHORT),
        "comm": None,
        "recv": RAISED,
        "comm after recv": None,
    }


def test_send_then_recv_echo(same_outcome):
    assert same_outcome(echo_round_trip) == {
        "comm": "socket",
        "send": None,
        "recv": query_string,
    }


def test_recv_timeout_raises_connection_error_and_keeps_connection(same_outcome):
    assert same_outcome(recv_timeout) == {
        "recv": RAISED,
        "same_comm": True,
        "later": b"late",
    }


def test_send_without_connection_reconnects_once_device_is_up(same_outcome):
    assert same_outcome(send_reconnects_when_device_comes_up) == {
        "comm before": None,
        "send": None,
        "comm after": "socket",
        "device got": b"hello",
    }


def test_send_while_device_down_raises_connection_error(same_outcome):
    assert same_outcome(send_while_device_down) == {
        "first send": RAISED,
        "second send": RAISED,
        "comm": None,
    }


def test_recv_after_peer_closed_returns_empty_bytes(same_outcome):
    assert same_outcome(recv_at_eof) == {"recv": b"", "again": b"", "comm": "socket"}


@pytest.mark.parametrize("how", ["abort", "close-unread"])
def test_send_after_peer_reset_reconnects_and_retries_once(same_outcome, how):
    assert same_outcome(send_after_reset(how)) == {
        "send": None,
        "comm": "socket",
        "second connection got": b"retried",
    }


def test_send_after_reset_with_device_gone_raises(same_outcome):
    assert same_outcome(send_after_reset_with_device_gone) == {
        "send": RAISED,
        "comm": None,
    }


def test_recv_after_peer_reset_raises_without_reset(same_outcome):
    assert same_outcome(recv_after_reset) == {"recv": RAISED, "comm": "socket"}


def test_recv_timeout_with_reset_on_error_raises_on_a_new_connection(same_outcome):
    assert same_outcome(recv_timeout_with_reset) == {
        "recv": RAISED,
        "comm": "socket",
        "new connection": True,
        "peer sees it": True,
        "new connection got": b"fresh",
    }


def test_recv_without_connection_and_reset_on_error_reconnects(same_outcome):
    assert same_outcome(recv_unconnected_with_reset) == {
        "recv": RAISED,
        "comm": "socket",
    }


def test_port_given_as_string_becomes_int(same_outcome):
    assert same_outcome(port_as_string) == {
        "port": True,
        "comm": "socket",
        "echo": b"ok",
    }


def test_recv_returns_at_most_bufsize(same_outcome):
    assert same_outcome(recv_bufsize) == {"first": b"0123", "rest": b"456789"}


def test_send_accepts_bytes_like_and_sends_every_byte(same_outcome):
    assert same_outcome(send_bytes_like) == ([None, None, None], True)


def test_documented_driver_works_unchanged(same_outcome):
    assert same_outcome(documented_driver) == {
        "port": True,
        "get_data": REPLY,
        "device resets": RAISED,
        "retry": REPLY,
        "connections": 2,
    }


def test_documented_driver_recovers_in_agent_loop(same_outcome):
    assert same_outcome(documented_driver_agent_loop) == {
        "device down": RAISED,
        "device up": REPLY,
    }
