"""The transport of an interface that has no connection.

Every I/O call raises :class:`~socs_tcp.errors.NotConnected`, so the front's
methods need no "is there a connection?" branch: the error goes through the
same failure policy as any other.
"""

from __future__ import annotations

import socket
from typing import ClassVar, NoReturn

from socs_tcp._types import ReadableBuffer, Terminator
from socs_tcp.errors import NotConnected


def _refuse() -> NoReturn:
    raise NotConnected("connection not established")


class Disconnected:
    """Satisfies ``socs_tcp._contract.Transport``; holds nothing, sends nothing."""

    backend: ClassVar[str] = "none"

    def __init__(self, sock: socket.socket | None = None) -> None:
        pass

    @property
    def pending(self) -> int:
        """Always 0."""
        return 0

    @property
    def broken(self) -> bool:
        """Always False: there is no connection to break."""
        return False

    def close(self) -> None:
        """Nothing to close."""

    def sendall(self, data: ReadableBuffer, timeout: float | None) -> None:
        _refuse()

    def recv(self, bufsize: int, timeout: float | None) -> bytes:
        _refuse()

    def recv_into(self, buffer: memoryview, nbytes: int, timeout: float | None) -> int:
        _refuse()

    def recv_until(
        self, terminator: Terminator, timeout: float | None, max_size: int
    ) -> bytes:
        _refuse()

    def recv_exactly(self, n: int, timeout: float | None) -> bytes:
        _refuse()

    def drain(self, preview: int, timeout: float | None) -> tuple[int, bytes]:
        _refuse()

    def peek(self, offset: int, n: int) -> bytes:
        """Nothing is buffered."""
        return b""

    def fill(self, n: int, timeout: float | None) -> int:
        _refuse()

    def recv_quiet(self, idle: float, timeout: float | None, max_size: int) -> bytes:
        _refuse()

    def recv_block_header(self, timeout: float | None) -> tuple[int, int]:
        _refuse()


#: The one instance every unconnected interface shares (it has no state).
DISCONNECTED = Disconnected()
