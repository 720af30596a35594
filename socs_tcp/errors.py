"""One exception hierarchy, shared by both transports and the front.

Every class here derives from :class:`ConnectionError`, so agent code written
for ``socs.tcp`` (``except ConnectionError:``) keeps catching everything the
interface raises for a device that misbehaves.

Both transports build their errors with the constructors here, so the two
raise the same classes with the same messages.
"""

import errno


class TransportError(ConnectionError):
    """Base class of the errors raised by ``socs_tcp``.

    Parameters
    ----------
    message : str
        What went wrong and, where it helps, what to do about it.
    partial : bytes
        A copy of the bytes received by the failed call before it failed.
        They are still buffered: the next receive returns them first.

    Attributes
    ----------
    partial : bytes
        A copy of the bytes received so far by the failed call.
    """

    def __init__(self, message, partial=b""):
        super().__init__(message)
        self.partial = bytes(partial)


class TransportTimeout(TransportError, TimeoutError):
    """The call's deadline expired.

    Both a :class:`ConnectionError` (as ``socs.tcp`` raises on a timeout) and a
    :class:`TimeoutError`. Nothing received is lost: ``partial`` is a copy of
    the bytes the call had received, and they stay buffered for a retry.
    """

    @classmethod
    def expired(cls, partial=b""):
        if not partial:
            return cls("timed out", partial)
        return cls(
            f"timed out ({len(partial)} bytes of the frame received and kept)",
            partial,
        )


class IncompleteRead(TransportError):
    """The peer closed the connection in the middle of a frame.

    ``partial`` holds the bytes of the unfinished frame; they stay buffered.
    """

    @classmethod
    def at_eof(cls, partial):
        return cls(
            f"the peer closed the connection after {len(partial)} bytes of an "
            "unfinished frame",
            partial,
        )


class FrameTooLong(TransportError):
    """No terminator was found within ``max_size`` bytes.

    The bytes stay buffered. Read past them with ``recv_exactly(n)`` or
    ``recv(n)``, discard them with ``clear()``, or retry with a larger
    ``max_size``.
    """

    @classmethod
    def beyond(cls, max_size, terminators, partial):
        return cls(
            f"no terminator {terminators!r} within max_size={max_size} bytes; "
            "they stay buffered: read past them with recv_exactly(n), drop "
            "them with clear(), or raise max_size",
            partial[:max_size],
        )


class NotConnected(TransportError):
    """There is no open connection to the device (it could not be made, or
    the socket was closed)."""


def socket_closed():
    """``OSError(EBADF)``: the socket was closed behind the transport's back."""
    return OSError(errno.EBADF, "the socket is closed")


def second_receiver():
    """A second thread tried to receive while one already is."""
    return RuntimeError(
        "another thread is receiving on this connection; serialise receives "
        "(TCPInterface.query holds a lock)"
    )
