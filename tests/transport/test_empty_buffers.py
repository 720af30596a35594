"""An empty buffer of any shape is no bytes, to both transports."""

import numpy as np
import pytest

from tests.conftest import BOUND, read_exactly

EMPTY = [np.zeros((0, 3)), np.zeros((3, 0), dtype=np.uint8), np.zeros((2, 0, 4))]


@pytest.mark.parametrize("data", EMPTY, ids=["0x3", "3x0", "2x0x4"])
def test_sendall_of_an_empty_array_sends_nothing(pair, data):
    transport, _, server = pair
    assert transport.sendall(data, BOUND) == 0  # sent (all of nothing)
    transport.sendall(b"next", BOUND)
    assert read_exactly(server, 4) == b"next"


@pytest.mark.parametrize("data", EMPTY, ids=["0x3", "3x0", "2x0x4"])
def test_exchange_of_an_empty_array_sends_nothing_and_reads_the_reply(pair, data):
    transport, _, server = pair
    server.sendall(b"unprompted\n")
    assert transport.exchange(data, b"\n", BOUND, 100, False, None) == b"unprompted"
    transport.sendall(b"next", BOUND)
    assert read_exactly(server, 4) == b"next"
