import re

import pytest
from scpi_gauge import Gauge

PRESSURE = {re.compile(rb"PR(\d)"): lambda command, m: m[1] + b",1.25E-3"}


def test_gauge(fake_device):
    dev = fake_device({b"*IDN?": b"ACME,PG-105", **PRESSURE}, terminator=b"\r\n")
    gauge = Gauge(*dev.address, timeout=0.2)
    assert gauge.identity() == "ACME,PG-105"
    assert gauge.pressure(2) == 1.25e-3
    dev.down()  # the gauge is switched off
    with pytest.raises(ConnectionError):
        gauge.pressure(2)
    dev.up()  # and on again: the driver reconnects
    assert gauge.pressure(2) == 1.25e-3
    dev.inject(latency=0.5)  # a reply later than the timeout
    with pytest.raises(TimeoutError):
        gauge.pressure(1)
    dev.inject()
    dev.wait_idle()  # the late reply has arrived; the next query drops it
    assert gauge.pressure(3) == 1.25e-3
