"""Types of the compiled transport; ``socs_tcp._transport_py`` has the same
``Transport`` and documents the semantics."""

import socket
from collections.abc import Callable
from typing import Any

from _typeshed import ReadableBuffer, WriteableBuffer

CHUNK_SIZE: int

class Transport:
    backend: str
    def __init__(self, sock: socket.socket) -> None: ...
    @property
    def pending(self) -> int: ...
    def discard(self) -> bytes: ...
    def sendall(self, data: ReadableBuffer, timeout: float | None) -> None: ...
    def recv(self, bufsize: int, timeout: float | None) -> bytes: ...
    def recv_into(
        self, buffer: WriteableBuffer, nbytes: int, timeout: float | None
    ) -> int: ...
    def recv_until(
        self, terminators: tuple[bytes, ...], timeout: float | None, max_size: int
    ) -> bytes: ...
    def recv_exactly(self, n: int, timeout: float | None) -> bytes: ...
    def drain(self) -> bytes: ...

class RecvUntilShortcut:
    def __call__(
        self,
        terminator: bytes | tuple[bytes, ...] | None = None,
        *,
        timeout: float | None = None,
        max_size: int | None = None,
        reset_on_error: bool = False,
    ) -> bytes: ...

class BufferedFastPath:
    def __init__(self, method: Callable[..., bytes]) -> None: ...
    def __get__(self, obj: Any, objtype: type | None) -> Callable[..., bytes]: ...
