"""A SCPI-style vacuum gauge: text commands and replies ending in CR LF."""

from socs_tcp import TCPInterface


class Gauge(TCPInterface):
    """A pressure gauge with up to six channels."""

    read_terminator = b"\r\n"
    write_terminator = b"\r\n"

    def identity(self) -> str:
        """The gauge's ``*IDN?`` string."""
        return self.query(b"*IDN?").decode("ascii")

    def pressure(self, channel: int = 1) -> float:
        """Pressure of ``channel``; the gauge answers ``"<channel>,<value>"``."""
        reply = self.query(b"PR%d" % channel)
        echoed, value = reply.split(b",")
        if int(echoed) != channel:
            raise ConnectionError(f"asked channel {channel}, got {reply!r}")
        return float(value)
