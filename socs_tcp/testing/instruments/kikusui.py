"""Kikusui power supplies over SCPI-RAW: the PCR500MA and the PMX series."""

from __future__ import annotations

from typing import ClassVar

from socs_tcp.testing.instruments.base import ScpiInstrument

__all__ = ["KikusuiPCR500MA", "KikusuiPMX"]


class KikusuiPCR500MA(ScpiInstrument):
    """An AC source; ``reading`` is the measured AC voltage (``MEAS:VOLT:AC?``).

    Settings (``OUTP 1``, ``VOLT 10``, ``FREQ 50``, ...) are stored and read
    back by their queries; ``VOLT?`` and ``FREQ?`` leave out the limits a
    setting may carry (``VOLT 20,10,30``).
    """

    name = "kikusui_pcr500ma"
    model = "Kikusui PCR500MA"
    port = 5025
    reply_terminator = b"\n"
    default_reading: ClassVar[float] = 10.0
    defaults: ClassVar[dict[str, str]] = {
        "*IDN": "KIKUSUI,PCR500MA,AB123456,IFC01.00.0011 IOC01.00.0011",
        "OUTP": "0",
        "OUTP:COUP": "AC",
        "CURR": "5.0",
        "CURR:OFFS": "2.5",
        "FREQ": "50.0",
        "VOLT": "10.0",
    }

    def query(self, header: str, args: str) -> str | None:
        """Measurements follow ``reading``; the rest, the settings."""
        measured = {
            "MEAS:VOLT:AC": self.reading,
            "MEAS:CURR:AC": self.reading / 100,
            "MEAS:POW:AC": self.reading * self.reading / 100,
            "MEAS:FREQ": float(self.settings["FREQ"].split(",")[0]),
        }
        if header in measured:
            return f"{measured[header]:.4f}"
        if header in ("VOLT", "FREQ"):  # set with limits, read without
            return self.settings[header].split(",")[0]
        return super().query(header, args)


class KikusuiPMX(ScpiInstrument):
    """A DC supply; ``reading`` is the measured voltage (``meas:volt?``)."""

    name = "kikusui_pmx"
    model = "Kikusui PMX"
    port = 5025
    reply_terminator = b"\n"
    default_reading: ClassVar[float] = 12.0
    defaults: ClassVar[dict[str, str]] = {
        "*IDN": "KIKUSUI,PMX35-1A,AB123456,IFC01.00.0011 IOC01.00.0011",
        "OUTPUT": "0",
        "CURR": "1.0",
        "VOLT": "12.0",
        "CURR:PROT": "1.1",
        "VOLT:PROT": "13.2",
        "VOLT:EXT:SOUR": "NONE",
        "STAT:QUES": "0",
        "SYSTEM:ERROR": '0,"No error"',
    }

    def query(self, header: str, args: str) -> str | None:
        """Measurements follow ``reading``; the rest, the settings."""
        if header == "MEAS:VOLT":
            return f"{self.reading:.4f}"
        if header == "MEAS:CURR":
            return f"{self.reading / 24:.4f}"
        return super().query(header, args)
