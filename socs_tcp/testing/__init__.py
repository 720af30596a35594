"""Test a driver without hardware: scripted fake devices with fault injection.

``FakeDevice`` is a real TCP server on loopback, in a background thread, that
answers a dialogue (or a strict script) and misbehaves on request (see
:class:`Faults`). ``Proxy`` forwards a driver's traffic to a real device,
with the same faults, and records it as a dialogue file that
``load_dialogue`` replays. ``instrument(NAME).device()`` serves an
emulation of an instrument socs's drivers talk to (``INSTRUMENTS`` names
them). The pytest plugin
(:mod:`socs_tcp.testing.pytest_plugin`, registered on install) adds the
``fake_device`` fixture.
"""

from socs_tcp.testing.device import Event, FakeDevice
from socs_tcp.testing.dialogue import Dialogue, DialogueError, load_dialogue
from socs_tcp.testing.faults import Faults
from socs_tcp.testing.framing import (
    Framer,
    as_received,
    by_terminator,
    fixed_length,
    length_prefixed,
    mbap,
)
from socs_tcp.testing.instruments import INSTRUMENTS, InstrumentDevice, instrument
from socs_tcp.testing.modbus import ModbusRegisters
from socs_tcp.testing.proxy import Proxy
from socs_tcp.testing.responses import Handler, Reply, Responses, ResponseTable
from socs_tcp.testing.script import ScriptError

__all__ = [
    "Dialogue",
    "DialogueError",
    "Event",
    "FakeDevice",
    "Faults",
    "Framer",
    "INSTRUMENTS",
    "Handler",
    "InstrumentDevice",
    "ModbusRegisters",
    "Proxy",
    "Reply",
    "ResponseTable",
    "Responses",
    "ScriptError",
    "as_received",
    "by_terminator",
    "fixed_length",
    "instrument",
    "length_prefixed",
    "load_dialogue",
    "mbap",
]
