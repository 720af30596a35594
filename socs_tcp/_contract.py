"""The transport contract: what the front needs, and both transports provide.

``socs_tcp._transport_py.Transport`` (the reference, and the fallback) and the
compiled ``socs_tcp._transport_c.Transport`` satisfy :class:`Transport`; mypy
checks both against it (see ``_backend``), and the test suite checks that they
behave the same.
"""

from __future__ import annotations

import socket
from typing import ClassVar, Protocol

from socs_tcp._types import ReadableBuffer, Terminator


class Transport(Protocol):
    """Buffered, deadline-driven I/O over one connected socket.

    Every timeout is seconds for the whole call (``None``: no limit), already
    checked by the front: a finite number from 0 to ``MAX_TIMEOUT``. Failures
    raise the classes of :mod:`socs_tcp.errors`, with the same messages on
    both transports. The module ``_transport_py`` documents the semantics.
    """

    #: ``"cython"`` or ``"python"``.
    backend: ClassVar[str]

    def __init__(self, sock: socket.socket) -> None: ...

    @property
    def pending(self) -> int:
        """Received bytes buffered and not yet returned."""
        ...

    @property
    def broken(self) -> bool:
        """True once a read met end of stream or a kernel error ended the
        connection: it will not carry another exchange."""
        ...

    def close(self) -> None:
        """Refuse every call from now on; a call in progress raises NotConnected."""
        ...

    def sendall(self, data: ReadableBuffer, timeout: float | None) -> None:
        """Send every byte of ``data``; concurrent calls never interleave."""
        ...

    def recv(self, bufsize: int, timeout: float | None) -> bytes:
        """Buffered bytes first, else one kernel read of at most ``bufsize``."""
        ...

    def recv_into(self, buffer: memoryview, nbytes: int, timeout: float | None) -> int:
        """As :meth:`recv`, into ``buffer`` (bytes-format, writable)."""
        ...

    def recv_until(
        self, terminator: Terminator, timeout: float | None, max_size: int
    ) -> bytes:
        """The next frame, up to and including the first completed terminator.

        ``terminator`` is checked with ``_checks.check_terminators``; the last
        immutable one is remembered by identity, so the check runs once.
        """
        ...

    def recv_exactly(self, n: int, timeout: float | None) -> bytes:
        """Exactly ``n`` bytes."""
        ...

    def drain(self, preview: int, timeout: float | None) -> tuple[int, bytes]:
        """Discard the buffer and what the kernel holds now, without waiting.

        Returns how many bytes were discarded and the first ``preview`` of
        them. Stops at EOF, or when ``timeout`` passes while data keeps coming.
        """
        ...
