"""A streaming DAQ: after START it sends fixed-size binary records."""

import struct

from socs_tcp import TCPInterface

#: One record: sequence number, then two channels (little-endian).
RECORD = struct.Struct("<Ihh")


class DAQ(TCPInterface):
    """Starts and stops the stream; reads whole records whatever the chunking."""

    def start(self) -> None:
        """Ask for the stream."""
        self.send(b"START\n")

    def stop(self) -> None:
        """End the stream and drop what is still in flight."""
        self.send(b"STOP\n")
        self.clear(quiet=0.05)

    def records(self, count: int) -> list:
        """The next ``count`` records as ``(sequence, ch0, ch1)`` tuples."""
        return list(RECORD.iter_unpack(self.recv_exactly(count * RECORD.size)))
