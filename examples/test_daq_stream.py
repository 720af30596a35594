import pytest
from daq_stream import DAQ, RECORD

from socs_tcp import IncompleteRead

BLOCK = b"".join(RECORD.pack(n, n, -n) for n in range(100))


def test_daq(fake_device):
    dev = fake_device(
        {b"START": BLOCK, b"STOP": None}, reply_terminator=b"", chunk=7, latency=0.3
    )
    daq = DAQ(*dev.address, timeout=1)
    daq.start()  # the data comes late, in 7-byte pieces
    assert daq.records(100) == [(n, n, -n) for n in range(100)]
    dev.send(BLOCK[:-3])  # more data, then the DAQ goes away mid-record
    dev.down()
    assert daq.records(99)[-1] == (98, 98, -98)
    with pytest.raises(IncompleteRead) as lost:
        daq.records(1)
    assert lost.value.partial == BLOCK[-RECORD.size : -3]
