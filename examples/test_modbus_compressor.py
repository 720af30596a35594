import pytest
from modbus_compressor import Compressor

from socs_tcp.testing import ModbusRegisters, mbap


def test_compressor(fake_device):
    registers = ModbusRegisters(input_registers={1: 3, 7: 185, 8: 321})
    dev = fake_device(registers, terminator=None, framer=mbap(), chunk=5)
    ptc = Compressor(*dev.address, timeout=0.2)
    assert ptc.running() and ptc.coolant_temperatures() == (18.5, 32.1)
    dev.inject(drop="rst")  # the connection is reset mid-request
    with pytest.raises(ConnectionError):
        ptc.running()
    dev.inject(latency=0.5)  # a reply later than the timeout
    with pytest.raises(TimeoutError):
        ptc.running()
    dev.inject()
    dev.wait_idle()
    registers.input[1] = 0  # stopped: the late "running" reply is not taken
    assert not ptc.running()
    # After the reset, and after the timeout: the late reply was left behind
    # with the old connection.
    assert dev.connections == 3
