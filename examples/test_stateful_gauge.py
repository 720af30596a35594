"""The stateful device of the README: a gauge whose set-point persists."""

from scpi_gauge import Gauge


class SetPointGauge:
    """A gauge whose set-point persists between commands."""

    def __init__(self):
        self.setpoint = b"0.0"

    def __call__(self, command):
        if command.startswith(b"SP "):
            self.setpoint = command[3:]
            return b"OK"
        if command == b"SP?":
            return self.setpoint
        return b"ERR"


def test_setpoint_persists(fake_device):
    dev = fake_device(SetPointGauge(), terminator=b"\r\n")
    gauge = Gauge(*dev.address, timeout=1)
    assert gauge.query(b"SP 4.2") == b"OK"
    assert gauge.query(b"SP?") == b"4.2"
