"""A Devantech dS378 Ethernet relay board: one-byte binary commands."""

from __future__ import annotations

from typing import ClassVar

from socs_tcp.testing.framing import Framer
from socs_tcp.testing.instruments.base import Instrument

__all__ = ["DevantechDS378"]

#: Bytes in each command, by its first byte.
_SIZES = {0x30: 1, 0x31: 7, 0x32: 3, 0x33: 2, 0x34: 2, 0x35: 1, 0x36: 2}


def _frame(buffer: bytes) -> tuple[bytes, bytes] | None:
    if not buffer:
        return None
    size = _SIZES.get(buffer[0], 1)
    if len(buffer) < size:
        return None
    return buffer[:size], buffer[size:]


class DevantechDS378(Instrument):
    """Eight relays, seven inputs; ``reading`` is analogue input 1 (0-1023).

    Answers get status (0x30, 8 bytes), set relay (0x31, ACK 0), set output
    (0x32, ACK 0), get relays (0x33, 5 bytes), get inputs (0x34, 2 bytes),
    get analogue (0x35, 14 bytes) and get counters (0x36, 8 bytes).

    Attributes
    ----------
    relays : int
        The relay states, bit 0 = relay 1.
    """

    name = "devantech_ds378"
    model = "Devantech dS378"
    port = 17123
    terminator = None
    default_reading: ClassVar[float] = 512

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.relays = 0
        self.outputs = 0

    def framer(self) -> Framer:
        """Each command's size follows from its first byte."""
        return _frame

    def __call__(self, command: bytes) -> bytes | None:
        code = command[0]
        if code == 0x30:
            return bytes([55, 4, 2, 1, 6, 120]) + (253).to_bytes(2, "big")
        if code == 0x31:
            bit = 1 << (command[1] - 1)
            self.relays = self.relays | bit if command[2] else self.relays & ~bit
            return b"\x00"
        if code == 0x32:
            bit = 1 << (command[1] - 1)
            self.outputs = self.outputs | bit if command[2] else self.outputs & ~bit
            return b"\x00"
        if code == 0x33:
            return b"\x00" + self.relays.to_bytes(4, "big")
        if code == 0x34:
            return b"\x00" + bytes([self.outputs & 0x7F])
        if code == 0x35:
            values = [int(self.reading)] + [100 * i for i in range(1, 7)]
            return b"".join(v.to_bytes(2, "big") for v in values)
        if code == 0x36:
            return (7).to_bytes(4, "big") + (3).to_bytes(4, "big")
        return None
