"""One exception hierarchy, shared by both transports and the front.

Every class here derives from :class:`ConnectionError`, so agent code written
for ``socs.tcp`` (``except ConnectionError:``) keeps catching everything the
interface raises for a device that misbehaves.

Both transports build their errors with the constructors here, so the two
raise the same classes with the same messages. The front prefixes each
message with the device (``host:port``).
"""

from __future__ import annotations

import os
import socket

from socs_tcp._types import ReadableBuffer

# Python 3.9's socket.timeout is not TimeoutError yet; be both everywhere.
_TIMEOUT_BASES: tuple[type[OSError], ...] = (
    (TimeoutError,)
    if socket.timeout is TimeoutError
    else (TimeoutError, socket.timeout)
)


def _seconds(timeout: float | None) -> str:
    return "ever" if timeout is None else f"{timeout:g} s"


class TransportError(ConnectionError):
    """Base class of the errors raised by ``socs_tcp``.

    Parameters
    ----------
    message : str
        What went wrong and, where it helps, what to do about it.
    partial : bytes-like
        A copy of the bytes received by the failed call before it failed.
        They are still buffered: the next receive returns them first.
    errno : int, optional
        The system's error number, when the kernel reported the failure.

    Attributes
    ----------
    partial : bytes
        A copy of the bytes received so far by the failed call.
    errno : int or None
        As for any :class:`OSError`.
    """

    def __init__(
        self, message: str, partial: ReadableBuffer = b"", errno: int | None = None
    ) -> None:
        super().__init__(message)
        self.partial = bytes(partial)
        self.errno = errno


class TransportTimeout(TransportError, *_TIMEOUT_BASES):  # type: ignore[misc]
    """The call's deadline expired.

    Both a :class:`ConnectionError` (as ``socs.tcp`` raises on a timeout) and a
    :class:`TimeoutError` (also ``socket.timeout`` on Python 3.9). Nothing
    received is lost: ``partial`` is a copy of the bytes the call had
    received, and they stay buffered for a retry.
    """

    @classmethod
    def expired(
        cls, timeout: float | None, partial: ReadableBuffer = b""
    ) -> TransportTimeout:
        """No (complete) reply within ``timeout``."""
        kept = len(memoryview(partial))
        if not kept:
            return cls(f"no reply within {_seconds(timeout)}")
        return cls(
            f"no complete reply within {_seconds(timeout)} "
            f"({kept} bytes received and kept)",
            partial,
        )

    @classmethod
    def unsent(cls, timeout: float | None, sent: int, total: int) -> TransportTimeout:
        """The peer did not take ``total`` bytes within ``timeout``."""
        return cls(
            f"could not send within {_seconds(timeout)} "
            f"({sent} of {total} bytes sent; the device is not reading)"
        )


class IncompleteRead(TransportError):
    """The peer closed the connection in the middle of a frame.

    ``partial`` holds the bytes of the unfinished frame; they stay buffered.
    """

    @classmethod
    def at_eof(cls, partial: ReadableBuffer) -> IncompleteRead:
        """The stream ended ``len(partial)`` bytes into a frame."""
        return cls(
            f"the device closed the connection after {len(memoryview(partial))} "
            "bytes of an unfinished frame",
            partial,
        )


class FrameTooLong(TransportError):
    """No terminator was found within ``max_size`` bytes.

    The bytes stay buffered. Read past them with ``recv_exactly(n)`` or
    ``recv(n)``, discard them with ``clear()``, or retry with a larger
    ``max_size``.
    """

    @classmethod
    def beyond(
        cls, max_size: int, terminators: tuple[bytes, ...], partial: ReadableBuffer
    ) -> FrameTooLong:
        """No terminator among the first ``max_size`` bytes of ``partial``."""
        return cls(
            f"no terminator {terminators!r} within max_size={max_size} bytes; "
            "they stay buffered: read past them with recv_exactly(n), drop "
            "them with clear(), or raise max_size",
            memoryview(partial)[:max_size],
        )


class ConnectionLost(TransportError):
    """The system reported a failure of the connection (reset, broken pipe).

    ``errno`` says which; ``partial`` holds the bytes of an unfinished frame,
    which stay buffered.
    """

    @classmethod
    def from_errno(cls, errno: int, partial: ReadableBuffer = b"") -> ConnectionLost:
        """The failure the kernel reported as ``errno``."""
        return cls(f"{os.strerror(errno)} (errno {errno})", partial, errno)


class NotConnected(TransportError):
    """There is no open connection to the device (it could not be made, or
    the socket was closed)."""

    @classmethod
    def closed(cls) -> NotConnected:
        """The connection was closed before or during the call."""
        return cls("the connection is closed")


def second_receiver() -> RuntimeError:
    """A second thread tried to receive while one already is."""
    return RuntimeError(
        "another thread is receiving on this connection; serialise receives "
        "(TCPInterface.query holds a lock)"
    )


class ProtocolError(TransportError):
    """The reply does not follow the protocol it was read by.

    Raised, for one, when an IEEE 488.2 block's header is not ``#<n><len>``
    (or ``#0``). ``partial`` holds the bytes seen; they stay buffered, and
    the stream counts as out of sync: the next query resynchronises first.
    """

    @classmethod
    def block_header(cls, partial: ReadableBuffer) -> ProtocolError:
        """``partial`` does not start an IEEE 488.2 block."""
        seen = bytes(memoryview(partial)[:16])
        return cls(
            "not an IEEE 488.2 block: expected b'#', a digit n and n digits "
            f"of length (or b'#0'), got {seen!r}; the bytes stay buffered",
            partial,
        )


class ReplyMismatch(TransportError):
    """A reply did not match what the query expected (``expect=``).

    The stream counts as out of sync: the next query resynchronises first.

    Parameters
    ----------
    message : str
        What was expected and what came.
    reply : bytes-like
        The reply, its terminator removed.

    Attributes
    ----------
    reply : bytes
        The reply that did not match.
    """

    def __init__(self, message: str, reply: ReadableBuffer) -> None:
        super().__init__(message)
        self.reply = bytes(reply)

    @classmethod
    def of(cls, expected: object, reply: bytes) -> ReplyMismatch:
        """``reply`` does not match ``expected`` (a regex or a bytes prefix)."""
        pattern = getattr(expected, "pattern", None)
        want = (
            f"to match {pattern!r}"
            if pattern is not None
            else f"to start with {bytes(expected)!r}"  # type: ignore[call-overload]
        )
        return cls(f"expected a reply {want}, got {reply[:80]!r}", reply)


def block_too_long(
    length: int, limit: int, what: str, partial: ReadableBuffer
) -> FrameTooLong:
    """A block declares ``length`` bytes, more than ``limit`` (``what``).

    ``partial`` is its header, which stays buffered.
    """
    return FrameTooLong(
        f"the block declares {length} bytes, more than {what} ({limit}); "
        "its header stays buffered: raise the limit, or drop it with clear()",
        partial,
    )


def not_quiet(
    timeout: float | None, idle: float, partial: ReadableBuffer
) -> TransportTimeout:
    """Data kept coming: no ``idle`` seconds of silence within ``timeout``."""
    return TransportTimeout(
        f"the device did not fall silent for {idle:g} s within "
        f"{_seconds(timeout)} ({len(memoryview(partial))} bytes received and "
        "kept)",
        partial,
    )


def no_pause(max_size: int, idle: float, partial: ReadableBuffer) -> FrameTooLong:
    """``max_size`` bytes came without ``idle`` seconds of silence."""
    return FrameTooLong(
        f"no {idle:g} s of silence within max_size={max_size} bytes; they stay "
        "buffered: read them with recv(n), drop them with clear(), or raise "
        "max_size",
        memoryview(partial)[:max_size],
    )
