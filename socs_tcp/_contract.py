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

    # -- instrument protocols ----------------------------------------------
    #
    # The loops that must keep every byte buffered when they fail (a reply
    # that ends in silence, a block's header) live beside the buffer; they
    # build on two general steps, peek and fill.

    def peek(self, offset: int, n: int) -> bytes:
        """A copy of the buffered bytes ``offset`` to ``offset + n``; no I/O.

        Fewer (or none) when fewer are buffered; ValueError if either is
        negative. Safe while another thread receives.
        """
        ...

    def fill(self, n: int, timeout: float | None) -> int:
        """Read until at least ``n`` bytes are buffered; return how many are.

        Consumes nothing: the bytes stay buffered for the next receive. As
        :meth:`recv_exactly` otherwise (reads ask for what is missing, at
        least ``CHUNK_SIZE`` and at most ``MAX_READ``; at least one attempt,
        then reads only while the deadline has not passed). TransportTimeout
        and IncompleteRead carry a copy of the whole buffer in ``.partial``.
        """
        ...

    def recv_quiet(self, idle: float, timeout: float | None, max_size: int) -> bytes:
        """Everything that arrives until ``idle`` seconds pass without a byte.

        Buffered bytes count as arrived; then each read waits at most
        ``idle`` (and never past the deadline), and the first wait that ends
        in silence returns the whole buffer. ``idle`` is > 0, checked by the
        front.

        Raises TransportTimeout when nothing at all arrives in ``timeout``
        (``.partial`` empty), or when data keeps coming and the deadline
        leaves no room for ``idle`` seconds of silence (``.partial``: the
        bytes, still buffered); FrameTooLong once ``max_size`` bytes are
        buffered without a pause; IncompleteRead at EOF. Every byte stays
        buffered on each of these.
        """
        ...

    def recv_block_header(self, timeout: float | None) -> tuple[int, int]:
        """Wait for the header of an IEEE 488.2 block; leave it buffered.

        Returns ``(header size, data size)``: ``#<n><n digits>`` gives
        ``(2 + n, the number)``, ``#0`` (an indefinite block, which ends at
        the read terminator) gives ``(2, -1)``. Nothing is consumed: the
        caller reads past the header (and data) once it has decided to. Each
        byte is checked as it arrives: the first that cannot belong to a
        header (not ``#``, then not a digit) raises ProtocolError at once,
        with the buffer in ``.partial`` and kept. Deadline, timeout and EOF
        as for :meth:`fill`.
        """
        ...
