"""Types of the compiled transport; the semantics are those of the contract
(``socs_tcp._contract.Transport``), as ``socs_tcp._transport_py`` keeps them."""

import socket
from collections.abc import Callable
from typing import ClassVar, final

from _typeshed import ReadableBuffer

__all__ = ["CHUNK_SIZE", "Frames", "Transport"]

CHUNK_SIZE: int
BUILD_INFO: str

_Terminator = bytes | bytearray | tuple[bytes | bytearray, ...]

@final
class Transport:
    backend: ClassVar[str]
    owed: bool
    holder: int
    def __init__(self, sock: socket.socket) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def broken(self) -> bool: ...
    @property
    def last_send(self) -> float: ...
    def close(self) -> None: ...
    def sendall(
        self,
        data: ReadableBuffer,
        timeout: float | None,
        idle_check: float | None = None,
    ) -> int: ...
    def recv(self, bufsize: int, timeout: float | None) -> bytes: ...
    def recv_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int: ...
    def recv_exactly_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int: ...
    def recv_until(
        self, terminator: _Terminator, timeout: float | None, max_size: int
    ) -> bytes: ...
    def frames(
        self,
        terminator: _Terminator,
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None = None,
    ) -> Frames: ...
    def recv_exactly(self, n: int, timeout: float | None) -> bytes: ...
    def clear(
        self, preview: int, quiet: float, timeout: float | None
    ) -> tuple[int, bytes]: ...
    def exchange(
        self,
        data: ReadableBuffer,
        terminator: _Terminator,
        timeout: float | None,
        max_size: int,
        clear: bool,
        idle_check: float | None,
    ) -> bytes | int: ...
    def peek(self, offset: int, n: int) -> bytes: ...
    def fill(self, n: int, timeout: float | None) -> int: ...
    def recv_quiet(
        self, idle: float, timeout: float | None, max_size: int
    ) -> bytes: ...
    def recv_block_header(self, timeout: float | None) -> tuple[int, int]: ...

@final
class Frames:
    def __init__(
        self,
        io: Transport,
        terms: tuple[bytes, ...],
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None,
    ) -> None: ...
    def __iter__(self) -> Frames: ...
    def __next__(self) -> bytes: ...
