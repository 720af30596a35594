"""Streams to EOF: recv(4096), recv_into a 64 KiB buffer, 64-byte lines."""


def test_stream(measure):
    measure("stream")


def test_stream_into(measure):
    measure("stream-into")


def test_lines(measure):
    measure("lines")
