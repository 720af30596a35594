"""A Cryomech CPA helium compressor, read over Modbus TCP (socs's ``PTC``)."""

from __future__ import annotations

import struct
from typing import ClassVar

from socs_tcp.testing.framing import Framer, mbap
from socs_tcp.testing.instruments.base import Instrument
from socs_tcp.testing.modbus import ModbusRegisters

__all__ = ["CryomechCPA"]

#: Input registers of the 32-bit floats: (low word, high word) = (n, n + 1).
_FLOATS = {
    "Warning_State": 3,
    "Alarm_State": 5,
    "Coolant_In_Temp": 7,
    "Coolant_Out_Temp": 9,
    "Oil_Temp": 11,
    "Helium_Temp": 13,
    "Low_Pressure": 15,
    "Low_Pressure_Average": 17,
    "High_Pressure": 19,
    "High_Pressure_Average": 21,
    "Delta_Pressure_Average": 23,
    "Motor_Current": 25,
    "Hours_of_Operation": 27,
}
_WORDS = {
    "Operating_State": 1,
    "Compressor_State": 2,
    "Pressure_Unit": 29,
    "Temperature_Unit": 30,
    "Serial_Number": 31,
    "Model": 32,
    "Software_Revision": 33,
}
_REGISTERS = 53  # what socs's PTC reads: 0x35 registers from 1


class CryomechCPA(Instrument):
    """A running compressor; ``reading`` is the coolant inlet temperature.

    Answers read input registers (function 4) for registers 1 to 53, and
    write single register 1 (power on/off, which it echoes). The floats
    are stored as socs's driver decodes them: IEEE 754, high word in the
    second register.

    Attributes
    ----------
    values : dict of str to float
        The other readings, by the names socs's driver returns.
    registers : ModbusRegisters
        The register map, rebuilt from ``values`` for every request.
    """

    name = "cryomech_cpa"
    model = "Cryomech CPA compressor"
    port = 502
    terminator = None
    default_reading: ClassVar[float] = 18.5

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.values: dict[str, float] = {
            "Operating_State": 3,
            "Compressor_State": 1,
            "Coolant_Out_Temp": 32.1,
            "Oil_Temp": 40.2,
            "Helium_Temp": 60.4,
            "Low_Pressure": 80.0,
            "Low_Pressure_Average": 80.1,
            "High_Pressure": 280.0,
            "High_Pressure_Average": 280.2,
            "Delta_Pressure_Average": 200.1,
            "Motor_Current": 12.5,
            "Hours_of_Operation": 20512.0,
            "Pressure_Unit": 0,
            "Temperature_Unit": 1,
            "Serial_Number": 4321,
            "Model": 0x0A0B,
            "Software_Revision": 0x0102,
        }
        self.registers = ModbusRegisters(holding_registers={1: 0})

    def framer(self) -> Framer:
        """Requests are cut by their MBAP header."""
        return mbap()

    def _input(self) -> dict[int, int]:
        values = {**self.values, "Coolant_In_Temp": self.reading}
        table = dict.fromkeys(range(1, _REGISTERS + 1), 0)
        for key, address in _FLOATS.items():
            high, low = struct.unpack(">HH", struct.pack(">f", values.get(key, 0.0)))
            table[address], table[address + 1] = low, high
        for key, address in _WORDS.items():
            table[address] = int(values.get(key, 0)) & 0xFFFF
        return table

    def __call__(self, command: bytes) -> bytes | None:
        self.registers.input = self._input()
        return self.registers(command)
