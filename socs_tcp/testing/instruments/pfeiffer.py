"""A Pfeiffer TPG 366 MaxiGauge: mnemonics, ACK, then ENQ for the data."""

from __future__ import annotations

from typing import ClassVar

from socs_tcp.testing.framing import Framer
from socs_tcp.testing.instruments.base import Instrument

__all__ = ["PfeifferTPG366"]

ACK, NAK, ENQ = b"\x06\r\n", b"\x15\r\n", b"\x05"


def _frame(buffer: bytes) -> tuple[bytes, bytes] | None:
    """ENQ is one byte on its own; a mnemonic ends with CR LF."""
    if buffer[:1] == ENQ:
        return ENQ, buffer[1:]
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    return buffer[:end], buffer[end + 2 :]


class PfeifferTPG366(Instrument):
    """Six gauges; ``reading`` is channel 1's pressure (the others follow).

    A mnemonic (``PR1`` to ``PR6``, ``PRX``, ``SEN``) is acknowledged with
    ACK CR LF (NAK for an unknown one); ENQ then sends its data. ENQ with no
    mnemonic before it sends ``PR1``'s, as after power-up.
    """

    name = "pfeiffer_tpg366"
    model = "Pfeiffer TPG 366"
    port = 8000
    terminator = None
    default_reading: ClassVar[float] = 1.25e-3

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.mnemonic = "PR1"

    def framer(self) -> Framer:
        """ENQ alone, or a mnemonic up to CR LF."""
        return _frame

    def pressures(self) -> list[float]:
        """The six pressures."""
        return [self.reading * (1 + channel) for channel in range(6)]

    def _data(self) -> str:
        pressures = self.pressures()
        if self.mnemonic == "PRX":
            return ",".join(f"0,{p:.4E}" for p in pressures)
        if self.mnemonic == "SEN":
            return ",".join("1" * 6)
        return f"0,{pressures[int(self.mnemonic[2]) - 1]:.4E}"

    def __call__(self, command: bytes) -> bytes | None:
        if command == ENQ:
            return self._data().encode() + b"\r\n"
        text = command.decode("latin-1").strip().upper()
        if text in ("PRX", "SEN") or (
            len(text) == 3 and text.startswith("PR") and text[2] in "123456"
        ):
            self.mnemonic = text
            return ACK
        return NAK
