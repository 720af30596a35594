"""Types of the compiled transport; ``socs_tcp._transport_py`` has the same
``Transport`` and documents the semantics (the contract is
``socs_tcp._contract.Transport``)."""

import socket
from typing import ClassVar, final

from _typeshed import ReadableBuffer

__all__ = ["CHUNK_SIZE", "Transport"]

CHUNK_SIZE: int
BUILD_INFO: str

@final
class Transport:
    backend: ClassVar[str]
    def __init__(self, sock: socket.socket) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def broken(self) -> bool: ...
    def close(self) -> None: ...
    def sendall(self, data: ReadableBuffer, timeout: float | None) -> None: ...
    def recv(self, bufsize: int, timeout: float | None) -> bytes: ...
    def recv_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int: ...
    def recv_until(
        self,
        terminator: bytes | bytearray | tuple[bytes | bytearray, ...],
        timeout: float | None,
        max_size: int,
    ) -> bytes: ...
    def recv_exactly(self, n: int, timeout: float | None) -> bytes: ...
    def drain(self, preview: int, timeout: float | None) -> tuple[int, bytes]: ...
