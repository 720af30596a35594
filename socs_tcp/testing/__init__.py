"""Test a driver without hardware: scripted fake devices with fault injection.

``FakeDevice`` is a real TCP server on loopback, in a background thread, that
answers a dialogue and misbehaves on request (see :class:`Faults`). The
pytest plugin (:mod:`socs_tcp.testing.pytest_plugin`, registered on install)
adds the ``fake_device`` fixture.
"""

from socs_tcp.testing.device import Event, FakeDevice
from socs_tcp.testing.faults import Faults
from socs_tcp.testing.framing import (
    Framer,
    as_received,
    by_terminator,
    fixed_length,
    length_prefixed,
    mbap,
)
from socs_tcp.testing.modbus import ModbusRegisters
from socs_tcp.testing.responses import Handler, Responses, ResponseTable

__all__ = [
    "Event",
    "FakeDevice",
    "Faults",
    "Framer",
    "Handler",
    "ModbusRegisters",
    "ResponseTable",
    "Responses",
    "as_received",
    "by_terminator",
    "fixed_length",
    "length_prefixed",
    "mbap",
]
