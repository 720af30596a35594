"""Type aliases for the public API (buffer types without typeshed at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as ReadableBuffer
    from _typeshed import WriteableBuffer as WriteableBuffer
    from typing_extensions import TypeAlias
else:
    ReadableBuffer = WriteableBuffer = Union[bytes, bytearray, memoryview]

#: What ends a frame: one terminator, or several (the first completed wins).
Terminator: TypeAlias = "bytes | bytearray | tuple[bytes | bytearray, ...]"
