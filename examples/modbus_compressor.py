"""A Cryomech-style helium compressor over Modbus TCP (binary)."""

import struct

from socs_tcp import TCPInterface


class Compressor(TCPInterface):
    """Reads input registers with function 4; one transaction at a time."""

    def __init__(self, ip_address: str, port: int = 502, timeout: float = 10):
        super().__init__(ip_address, port, timeout)
        self.transaction = 0

    def read_input_registers(self, start: int, count: int) -> list:
        """``count`` registers from ``start``, as unsigned 16-bit ints."""
        self.transaction = (self.transaction + 1) % 65536
        self.clear()  # a late reply to an earlier request is stale
        self.send(struct.pack(">HHHBBHH", self.transaction, 0, 6, 1, 4, start, count))
        tid, _, length = struct.unpack(">HHH", self.recv_exactly(6))
        pdu = self.recv_exactly(length)[1:]  # without the unit id
        if tid != self.transaction:
            raise ConnectionError(f"reply to transaction {tid}, not {self.transaction}")
        if pdu[0] & 0x80:
            raise ConnectionError(f"Modbus exception {pdu[1]}")
        return list(struct.unpack(f">{count}H", pdu[2:]))

    def running(self) -> bool:
        """True while the compressor runs (register 1 is state 3)."""
        return self.read_input_registers(1, 1)[0] == 3

    def coolant_temperatures(self) -> tuple:
        """Coolant in and out, degrees C (registers 7 and 8, in 0.1 C)."""
        low, high = self.read_input_registers(7, 2)
        return low / 10, high / 10
