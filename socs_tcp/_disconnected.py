"""The transport of an interface that has no connection.

Every I/O call raises :class:`~socs_tcp.errors.NotConnected`, so the front's
methods need no "is there a connection?" branch: the error goes through the
same failure policy as any other.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import ClassVar, NoReturn

from socs_tcp._contract import BROKEN
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
    def owed(self) -> bool:
        """Always False: a new connection starts in step."""
        return False

    @owed.setter
    def owed(self, value: bool) -> None:
        """Ignored: the connection that owed a reply is gone."""

    @property
    def holder(self) -> int:
        """Always 0: there is nothing to hold."""
        return 0

    @holder.setter
    def holder(self, value: int) -> None:
        """Ignored: nothing is sent without a connection."""

    @property
    def pending(self) -> int:
        """Always 0."""
        return 0

    @property
    def broken(self) -> bool:
        """Always False: there is no connection to break."""
        return False

    @property
    def last_send(self) -> float:
        """Always -inf: nothing was ever sent."""
        return -float("inf")

    def close(self) -> None:
        """Nothing to close."""

    def sendall(
        self,
        data: ReadableBuffer,
        timeout: float | None,
        idle_check: float | None = None,
    ) -> int:
        if idle_check is not None:
            return BROKEN  # the front's policy connects first
        _refuse()

    def exchange(
        self,
        data: ReadableBuffer,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        clear: bool,
        idle_check: float | None,
    ) -> int:
        return BROKEN  # as sendall

    def recv_exactly_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int:
        _refuse()

    def frames(
        self,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None = None,
    ) -> Iterator[bytes]:
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

    def clear(
        self, preview: int, quiet: float, timeout: float | None
    ) -> tuple[int, bytes]:
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
