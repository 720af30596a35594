"""A Modbus TCP register map that a ``FakeDevice`` can serve.

Serve it with the MBAP framer::

    registers = ModbusRegisters(input_registers={1: 3, 7: 185})
    FakeDevice(registers, terminator=None, framer=mbap())

It answers read holding registers (3), read input registers (4), write
single register (6) and write multiple registers (16); a register outside
the map gets exception 2 (illegal data address), another function
exception 1 (illegal function). Writes change ``holding``, so a test can
check what the driver wrote.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

__all__ = ["ModbusRegisters"]

_READS = {3: "holding", 4: "input"}


class ModbusRegisters:
    """The registers of a fake Modbus TCP device.

    Parameters
    ----------
    input_registers : mapping of int to int, optional
        Read-only registers (function 4), address to 16-bit value.
    holding_registers : mapping of int to int, optional
        Read-write registers (functions 3, 6 and 16).

    Attributes
    ----------
    input : dict of int to int
        The input registers.
    holding : dict of int to int
        The holding registers, as the driver last wrote them.
    """

    def __init__(
        self,
        input_registers: Mapping[int, int] | None = None,
        holding_registers: Mapping[int, int] | None = None,
    ) -> None:
        self.input = dict(input_registers or {})
        self.holding = dict(holding_registers or {})

    def __call__(self, request: bytes) -> bytes | None:
        """The response to one request (MBAP header included).

        Parameters
        ----------
        request : bytes
            A whole request, as the MBAP framer cuts it.

        Returns
        -------
        bytes or None
            The response; None for a request too short to answer.
        """
        if len(request) < 8:
            return None
        tid, _, _, unit, function = struct.unpack(">HHHBB", request[:8])
        body = request[8:]
        pdu = self._pdu(function, body)
        return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu

    def _pdu(self, function: int, body: bytes) -> bytes:
        if function in _READS and len(body) >= 4:
            start, count = struct.unpack(">HH", body[:4])
            table = getattr(self, _READS[function])
            addresses = range(start, start + count)
            if not 1 <= count <= 125 or any(a not in table for a in addresses):
                return _exception(function, 2)
            values = [table[a] & 0xFFFF for a in addresses]
            return struct.pack(f">BB{count}H", function, 2 * count, *values)
        if function == 6 and len(body) >= 4:
            address, value = struct.unpack(">HH", body[:4])
            if address not in self.holding:
                return _exception(function, 2)
            self.holding[address] = value
            return bytes([function]) + body[:4]
        if function == 16 and len(body) >= 5:
            start, count, size = struct.unpack(">HHB", body[:5])
            addresses = range(start, start + count)
            if size != 2 * count or len(body) < 5 + size:
                return _exception(function, 3)
            if any(a not in self.holding for a in addresses):
                return _exception(function, 2)
            written = struct.unpack(f">{count}H", body[5 : 5 + size])
            self.holding.update(zip(addresses, written))
            return struct.pack(">BHH", function, start, count)
        return _exception(function, 1)


def _exception(function: int, code: int) -> bytes:
    return bytes([(function | 0x80) & 0xFF, code])
