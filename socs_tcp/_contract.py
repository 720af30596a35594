"""The transport contract: what the front needs, and both transports provide.

``socs_tcp._transport_py.Transport`` (the reference, and the fallback) and the
compiled ``socs_tcp._transport_c.Transport`` satisfy :class:`Transport`; mypy
checks both against it (see ``_backend``), and the test suite checks that they
behave the same. This module carries the semantics; both transports say
"see the contract".

Rules every transport follows:

* One deadline per call, computed once; every wait uses what is left of it.
  A call makes at least one attempt to read; after that it reads again only
  while its deadline has not passed, however fast data keeps coming.
* A call's first read is one blocking read that the kernel bounds by the
  call's timeout (the descriptor is put in blocking mode when the transport
  is made, unless it was non-blocking on purpose, timeout 0): a reply that
  arrives in one read costs one syscall. Later reads of the same call, and
  reads of a descriptor that legacy code made non-blocking, ``poll`` for what
  is left. ``close()`` plus ``shutdown()`` wakes every waiter at once.
* Bytes read past what a call returns stay buffered, in order, and are
  returned first by the next receive of any kind. Plain ``recv(bufsize)``
  asks the kernel for at most ``bufsize`` bytes.
* A frame read that fails keeps every byte it received, and its exception
  carries a copy in ``.partial`` (timeout, EOF, reset, a signal handler that
  raises). ``recv_exactly_into`` keeps them in the caller's buffer instead,
  except when a signal handler raises: the exception cannot say how many
  there were, so they stay buffered for the retry.
* Kernel errors become ``ConnectionLost`` (with ``errno``) and mark the
  transport ``broken``; a socket closed behind the transport's back, or by
  :meth:`Transport.close` during a call, ``NotConnected``. The descriptor is
  looked up on every call, never kept.
* Concurrent sends are serialised, and an :meth:`Transport.exchange` holds
  that lock from its send to its reply. One thread may receive while another
  sends; a second concurrent receiver gets ``RuntimeError``.
* State the front's policy needs is kept as a side effect of the I/O:
  ``broken``, ``last_send``, ``owed``. A send or exchange given an
  ``idle_check`` sends nothing when the policy is needed first, and returns
  one of the statuses below; otherwise it returns :data:`SENT`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

from socs_tcp._types import ReadableBuffer, Terminator

#: Sent (``sendall``); any other status means nothing was sent.
SENT = 0
#: The connection is known to be over (``broken``, closed, no descriptor).
BROKEN = 1
#: ``idle_check`` seconds passed since the last send, and a zero-wait poll
#: found the peer gone (hang-up, error, or FIN).
IDLE = 2
#: The traffic trace is switched on (``_trace.SWITCH``): the front records
#: the message and sends it itself.
TRACE = 3
#: ``owed`` is set: the stream is out of step with the commands, and the
#: front resynchronises before anything is sent.
OWED = 4
#: ``exchange``: stale input was discarded; the next ``clear`` reports it.
STALE = 5
#: Another thread holds the transport (``holder``): the front's policy is
#: running a query or transaction there, and this call must wait for it.
HELD = 6


class Transport(Protocol):
    """Buffered, deadline-driven I/O over one connected socket.

    Every timeout is seconds for the whole call (``None``: no limit), already
    checked by the front: a finite number from 0 to ``MAX_TIMEOUT``. Failures
    raise the classes of :mod:`socs_tcp.errors`, with the same messages on
    both transports.
    """

    #: ``"cython"`` or ``"python"``.
    backend: ClassVar[str]

    #: True while bytes may still come that belong to no caller: from the
    #: moment an exchange has sent until its reply is framed, and after any
    #: receive that failed (timed out, too long, cut off) until a receive
    #: succeeds. ``clear`` leaves it as it is. The front sets it too (a
    #: reply that did not match) and clears it once it has resynchronised.
    owed: bool

    #: The thread (``threading.get_ident()``) the front's policy holds the
    #: transport for, or 0. While it is set, a send or exchange given an
    #: ``idle_check`` from any other thread sends nothing and returns
    #: :data:`HELD`.
    holder: int

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

    @property
    def last_send(self) -> float:
        """Monotonic time the last send completed (``-inf`` before any)."""
        ...

    def close(self) -> None:
        """Refuse every call from now on; a call in progress raises NotConnected."""
        ...

    def sendall(
        self,
        data: ReadableBuffer,
        timeout: float | None,
        idle_check: float | None = None,
    ) -> int:
        """Send every byte of ``data``; concurrent calls never interleave.

        First :data:`HELD` (whatever ``idle_check``); with ``idle_check``
        (seconds), then the statuses :data:`BROKEN`, :data:`TRACE`,
        :data:`OWED`, and :data:`IDLE` if ``idle_check`` seconds passed since
        the last send.
        Nothing is sent if one holds.
        """
        ...

    def recv(self, bufsize: int, timeout: float | None) -> bytes:
        """Buffered bytes first, else one kernel read of at most ``bufsize``."""
        ...

    def recv_into(self, buffer: memoryview, nbytes: int, timeout: float | None) -> int:
        """As :meth:`recv`, into ``buffer`` (bytes-format, writable)."""
        ...

    def recv_exactly_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int:
        """Fill ``buffer[:nbytes]``: buffered bytes first, then the kernel's.

        Returns ``nbytes``. On failure the bytes received are in ``buffer``
        (none stay in the transport) and ``.partial`` is a copy of them; when
        a signal handler raises instead, they stay buffered, returned first
        by the retry.
        """
        ...

    def recv_until(
        self, terminator: Terminator, timeout: float | None, max_size: int
    ) -> bytes:
        """The next frame, up to and including the first completed terminator.

        ``terminator`` is checked with ``_checks.check_terminators``; the last
        immutable one is remembered by identity, so the check runs once.
        """
        ...

    def frames(
        self,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None = None,
    ) -> Iterator[bytes]:
        """An iterator whose every step is :meth:`recv_until` (``timeout`` each).

        It stops at end of stream between frames; an unfinished frame there
        raises ``IncompleteRead``. An error is passed to ``on_error``, if
        given, and what it returns is raised.
        """
        ...

    def recv_exactly(self, n: int, timeout: float | None) -> bytes:
        """Exactly ``n`` bytes."""
        ...

    def clear(
        self, preview: int, quiet: float, timeout: float | None
    ) -> tuple[int, bytes]:
        """Discard the buffer and what the kernel holds now, without waiting;
        with ``quiet > 0``, then whatever comes until the peer has been silent
        for ``quiet`` seconds.

        Returns how many bytes were discarded (with those an exchange
        discarded since the last call) and the first ``preview`` of them.
        Stops at EOF, or when ``timeout`` passes while data keeps coming.
        """
        ...

    def exchange(
        self,
        data: ReadableBuffer,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        clear: bool,
        idle_check: float | None,
    ) -> bytes | int:
        """One request and its reply: the reply frame without its terminator.

        In order: check ``terminator``; take the send lock; the statuses of
        :meth:`sendall`; with ``clear``,
        discard stale input (:data:`STALE` if there was any); send ``data``
        (``owed`` is set from here); frame the reply as :meth:`recv_until`
        does (``owed`` is cleared). A status means nothing was sent. A
        failure before the send completed leaves ``owed`` False.
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
