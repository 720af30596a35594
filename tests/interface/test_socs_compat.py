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

from socs_tcp.testing import FakeDevice, as_received, fixed_length
from tests.conftest import BOUND, abort, import_socs, read_exactly, wait_readable

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


#: A device that sends back whatever arrives, as it arrives.
ECHO = {"responses": lambda data: data, "terminator": None, "framer": as_received()}


class Net:
    """What a scenario may use: raw peers, fake devices, interface clean-up."""

    def __init__(self, make_peer):
        self.peer = make_peer
        self.devices = []
        self.interfaces = []

    def device(self, responses=None, **options):
        """A started ``FakeDevice``; by default it answers the documented query."""
        if responses is None:
            responses = {query_string[:-2]: REPLY[:-2]}
            options.setdefault("terminator", b"\r\n")
        device = FakeDevice(responses, **options)
        self.devices.append(device)
        return device

    def switched_off(self, **options):
        """A device that refuses connections until ``up()``."""
        device = self.device(**options)
        device.down()
        return device

    def track(self, iface):
        """Close ``iface``'s socket at the end of the test (socs has no close)."""
        self.interfaces.append(iface)
        return iface

    def close(self):
        for iface in self.interfaces:
            if iface.comm is not None:
                iface.comm.close()
        for device in self.devices:
            device.stop()


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
    device = net.switched_off()
    iface = net.track(cls("127.0.0.1", device.port, SHORT))
    return {
        "attributes": (iface.ip_address, port_is(iface, device.port), iface.timeout),
        "comm": comm_state(iface),
        "recv": attempt(iface.recv),
        "comm after recv": comm_state(iface),
    }


def echo_round_trip(cls, net):
    device = net.device(**ECHO)
    iface = net.track(cls("127.0.0.1", device.port, TIMEOUT))
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
    device = net.switched_off(responses={}, terminator=None, framer=fixed_length(5))
    iface = net.track(cls("127.0.0.1", device.port, TIMEOUT))
    outcome = {"comm before": comm_state(iface)}
    device.up()
    outcome["send"] = iface.send(b"hello")
    outcome["comm after"] = comm_state(iface)
    outcome["device got"] = device.wait_received(1, BOUND)
    return outcome


def send_while_device_down(cls, net):
    device = net.switched_off()
    iface = net.track(cls("127.0.0.1", device.port, SHORT))
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
    device = net.device()
    iface = net.track(cls("127.0.0.1", device.port, SHORT))
    device.wait_clients(1, BOUND)
    device.down(drop="rst")  # resets the connection, refuses new ones
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
    device = net.switched_off()
    iface = net.track(cls("127.0.0.1", device.port, SHORT))
    device.up()
    return {
        "recv": attempt(iface.recv, reset_on_error=True),
        "comm": comm_state(iface),
    }


def port_as_string(cls, net):
    device = net.device(**ECHO)
    iface = net.track(cls("127.0.0.1", str(device.port), TIMEOUT))
    iface.send(b"ok")
    return {
        "port": port_is(iface, device.port),
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


def documented_driver(cls, net):
    Device = device_class(cls)
    fake = net.device()
    device = net.track(Device("127.0.0.1", port=fake.port, timeout=TIMEOUT))
    outcome = {
        "port": port_is(device, fake.port),
        "get_data": attempt(device.get_data),
    }
    fake.inject(drop="rst")  # the device resets in the middle of a query
    outcome["device resets"] = attempt(device.get_data)
    fake.inject()
    outcome["retry"] = attempt(device.get_data)
    outcome["connections"] = fake.connections
    return outcome


def documented_driver_agent_loop(cls, net):
    Device = device_class(cls)
    fake = net.switched_off()
    device = net.track(Device("127.0.0.1", port=fake.port, timeout=TIMEOUT))
    outcome = {"device down": attempt(device.get_data)}
    fake.up()
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
        "device got": [b"hello"],
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
