"""Names socs_tcp added to TCPInterface stay free for subclasses.

Real drivers define ``close()`` (socs's PMX: ``self.comm.close()``),
``clear()`` (socs's SCPI drivers: send ``*CLS``) and keep
``self.connected`` flags. The interface's machinery (reconnection,
recovery, ``query()``, ``with``, garbage collection) must never call or
read those names through ``self``. Each test runs on both transports.
"""

import gc

import pytest

from socs_tcp.errors import TransportTimeout
from socs_tcp.testing import FakeDevice
from tests.conftest import import_socs

socs = import_socs()

#: Every public name socs_tcp's TCPInterface has and socs.tcp's has not.
ADDED = sorted(
    {n for n in dir(__import__("socs_tcp").TCPInterface) if not n.startswith("_")}
    - set(dir(socs.tcp.TCPInterface))
)
#: Settings a subclass sets as class attributes: they are meant to be read.
SETTINGS = {
    "idle_check",
    "query_delay",
    "read_terminator",
    "reconnect_backoff",
    "reconnect_interval",
    "resync",
    "resync_quiet",
    "send_interval",
    "write_terminator",
}
#: socs.tcp had these as plain attributes; socs_tcp checks what is assigned.
SOCS_ATTRIBUTES = {"comm", "timeout"}
#: The hook the interface calls on purpose, after every connection.
HOOKS = {"on_connect"}
#: The names a driver may take for its own.
FREE = [n for n in ADDED if n not in SETTINGS | SOCS_ATTRIBUTES | HOOKS]


def echo(command):
    return b"re:" + command


@pytest.fixture
def device():
    with FakeDevice(echo) as dev:
        yield dev


def test_pmx_close_pattern_still_reconnects(Interface, device):
    calls = []

    class PMX(Interface):
        def close(self):
            calls.append("close")
            self.comm.close()

    device.down()
    pmx = PMX(*device.address, 0.5)
    assert pmx.comm is None
    with pytest.raises(ConnectionError):
        pmx.send(b"a\n")  # no AttributeError from the driver's close()
    device.up()
    pmx.send(b"b\n")
    assert pmx.recv() == b"re:b\n"
    device.down("rst")
    device.up()
    pmx.send(b"c\n")  # the reset connection is replaced
    assert pmx.recv() == b"re:c\n"
    assert pmx.query(b"d") == b"re:d"
    assert calls == []
    pmx.close()  # the driver's own meaning
    assert calls == ["close"]
    pmx.send(b"e\n")  # and the next command reconnects
    assert pmx.recv() == b"re:e\n"
    Interface.close(pmx)


def test_scpi_clear_sending_cls_is_never_called_by_query(Interface, device):
    class Supply(Interface):
        def clear(self):
            self.send(b"*CLS\n")

    supply = Supply(*device.address, 0.3)
    assert supply.query(b"VOLT?") == b"re:VOLT?"
    device.inject(latency=0.5)
    with pytest.raises(TransportTimeout):
        supply.query(b"late?")
    device.inject()
    assert supply.query(b"CURR?") == b"re:CURR?"  # never the late reply
    device.down("rst")
    device.up()
    assert supply.query(b"OUTP?") == b"re:OUTP?"
    assert b"*CLS" not in device.received
    supply.clear()
    assert device.wait_received(5)[-1] == b"*CLS"
    Interface.close(supply)


def test_connected_flag_assigned_by_a_subclass(Interface, device):
    class Agent(Interface):
        def __init__(self, *args):
            self.connected = False
            super().__init__(*args)
            self.connected = True

        def poll(self):
            reply = self.query(b"P")
            self.connected = True
            return reply

    agent = Agent(*device.address, 0.5)
    assert agent.connected is True
    assert agent.poll() == b"re:P"
    agent.connected = False  # the agent's own flag: the interface ignores it
    assert agent.poll() == b"re:P"
    device.down("rst")
    device.up()
    agent.connected = True  # says nothing about the real connection
    assert agent.poll() == b"re:P"  # the interface reconnected anyway
    assert type(agent).connected.__get__(agent) is True
    assert device.connections == 2
    Interface.close(agent)


def trap_for(name, calls):
    def trap(self, *args, **kwargs):
        calls.append(name)
        raise AssertionError(f"the interface called {name}() through self")

    return trap


def exercise(Interface, driver, device):
    """The machinery: commands, a lost connection, a timeout, ``with``, GC."""
    assert Interface.query(driver, b"a") == b"re:a"
    device.down("rst")
    device.up()
    driver.send(b"b\n")
    assert driver.recv() == b"re:b\n"
    device.inject(latency=0.3)
    with pytest.raises(TransportTimeout):
        Interface.query(driver, b"late")
    device.inject()
    assert Interface.query(driver, b"c") == b"re:c"
    with driver:
        pass
    driver.send(b"d\n")
    assert driver.recv() == b"re:d\n"
    Interface.close(driver)


@pytest.mark.parametrize("name", FREE)
def test_a_subclass_method_of_an_added_name_is_never_called(Interface, device, name):
    calls = []
    Driver = type("Driver", (Interface,), {name: trap_for(name, calls)})
    exercise(Interface, Driver(*device.address, 0.2), device)
    gc.collect()
    assert calls == []


@pytest.mark.parametrize("name", FREE)
def test_an_instance_attribute_of_an_added_name_is_the_drivers(Interface, device, name):
    class Driver(Interface):
        def __init__(self, *args):
            setattr(self, name, "before")  # as socs agents set flags early
            super().__init__(*args)
            setattr(self, name, "the driver's own")

    driver = Driver(*device.address, 0.2)
    assert getattr(driver, name) == "the driver's own"
    exercise(Interface, driver, device)
    assert getattr(driver, name) == "the driver's own"


def test_query_goes_through_a_send_the_driver_overrides(Interface, device):
    # A driver that logs or frames its commands in send() keeps doing so for
    # query(), whether send() is defined in the class or wrapped onto it
    # before the instance is made.
    sent = []

    class Logged(Interface):
        def send(self, msg):
            sent.append(bytes(msg))
            super().send(msg)

    class Plain(Interface):
        pass

    original = Plain.send

    def wrapped(self, msg):
        sent.append(b"wrapped:" + bytes(msg))
        original(self, msg)

    Plain.send = wrapped
    for cls, expected in [(Logged, b"a\n"), (Plain, b"wrapped:a\n")]:
        sent.clear()
        with cls(*device.address, 2.0) as driver:
            assert driver.query(b"a") == b"re:a"
        assert sent == [expected]


def test_query_works_on_a_driver_that_sets_up_comm_without_init(Interface, device):
    # Some test doubles build the driver with __new__ and give it a socket.
    import socket

    driver = Interface.__new__(Interface)
    driver.ip_address, driver.port = device.address
    driver.timeout = 2.0
    driver.comm = socket.create_connection(device.address)
    try:
        driver.send(b"x\n")
        assert driver.recv() == b"re:x\n"
        assert driver.query(b"y") == b"re:y"
    finally:
        driver.comm.close()
