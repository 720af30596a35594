"""TCPInterface's methods are ordinary Python functions on both backends.

A driver's own unit tests (mocks, autospec, ``inspect``) and its threads
(bound methods as targets) must behave the same whether or not the compiled
transport was built.
"""

import functools
import gc
import inspect
import threading
from unittest import mock

import pytest

from socs_tcp import TCPInterface
from tests.conftest import BOUND, wait_readable

METHODS = ["send", "recv", "recv_until", "recv_exactly", "recv_into", "query", "clear"]


@pytest.fixture
def device(Interface, make_peer):
    peer = make_peer()
    iface = Interface("127.0.0.1", peer.port, BOUND)
    yield iface, peer.wait_connection()
    iface.close()


@pytest.mark.parametrize("name", METHODS)
def test_methods_are_plain_functions(Interface, name):
    assert inspect.isfunction(getattr(Interface, name))


def test_autospec_of_the_class_gives_working_mocks(backend):
    fake = mock.create_autospec(TCPInterface, instance=True)
    fake.recv.return_value = b"1.2E-3\r\n"
    fake.recv_until.return_value = b"ok\n"
    assert fake.recv() == b"1.2E-3\r\n"
    assert fake.recv(64, reset_on_error=True) == b"1.2E-3\r\n"
    assert fake.recv_until(b"\n", timeout=1) == b"ok\n"
    with pytest.raises(TypeError):
        fake.recv(64, False, "too many")


@pytest.mark.parametrize("name", ["recv", "recv_until"])
def test_patch_object_with_autospec(device, Interface, name):
    iface, peer = device
    with mock.patch.object(Interface, name, autospec=True) as patched:
        patched.return_value = b"fake\n"
        assert getattr(iface, name)() == b"fake\n"
        patched.assert_called_once_with(iface)
    peer.sendall(b"real\n")
    wait_readable(iface.comm)
    assert getattr(iface, name)() == b"real\n"


@pytest.mark.parametrize(
    ("name", "first"),
    [("recv", "bufsize"), ("recv_until", "terminator"), ("recv_exactly", "n")],
)
def test_bound_signatures_omit_self(device, name, first):
    iface, _ = device
    parameters = list(inspect.signature(getattr(iface, name)).parameters)
    assert parameters[0] == first


def test_a_bound_method_keeps_its_interface_alive(Interface, make_peer):
    peer = make_peer()
    recv_until = Interface("127.0.0.1", peer.port, BOUND).recv_until
    gc.collect()
    peer.wait_connection().sendall(b"still here\n")
    assert recv_until() == b"still here\n"
    recv_until.__self__.close()


def test_a_partial_as_a_thread_target(device):
    iface, peer = device
    result = []
    read = functools.partial(iface.recv_exactly, 5)
    thread = threading.Thread(target=lambda: result.append(read()))
    thread.start()
    peer.sendall(b"12345")
    thread.join(BOUND)
    assert result == [b"12345"]
