"""Checked by mypy in CI, never run: the public API's types as a driver sees them.

An ``# type: ignore[...]`` here marks a call mypy must reject; CI runs mypy
with ``--warn-unused-ignores``, so a call that stops being an error fails it.
"""

from typing_extensions import assert_type

from socs_tcp import TCPInterface, TransportError, TransportTimeout

iface = TCPInterface("192.168.1.2", 502, 10)

assert_type(iface.recv(4096), bytes)
assert_type(iface.recv(), bytes)
assert_type(iface.recv_until(b"\r\n", timeout=1.0), bytes)
assert_type(iface.recv_until((b"\r\n", b"\n")), bytes)
assert_type(iface.recv_exactly(8), bytes)
assert_type(iface.recv_into(bytearray(16)), int)
assert_type(iface.query(b"*IDN?"), bytes)
assert_type(iface.query(b"*IDN?", b"\r\n", 2.0), bytes)
assert_type(iface.clear(quiet=0.1), int)
assert_type(iface.pending, int)
assert_type(iface.timeout, "float | None")
assert_type(iface.send(b"PR1\r\n"), None)

iface.query("*IDN?")  # type: ignore[arg-type]
iface.send("PR1")  # type: ignore[arg-type]
iface.recv_until("\n")  # type: ignore[arg-type]
iface.recv("4096")  # type: ignore[arg-type]

try:
    iface.recv()
except TransportTimeout as exc:
    assert_type(exc.partial, bytes)
except TransportError as exc:
    assert_type(exc.errno, "int | None")
