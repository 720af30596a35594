"""One exception hierarchy, shared by both transports and the front.

Every class here derives from :class:`ConnectionError`, so agent code written
for ``socs.tcp`` (``except ConnectionError:``) keeps catching everything the
interface raises for a device that misbehaves.
"""


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


class IncompleteRead(TransportError):
    """The peer closed the connection in the middle of a frame.

    ``partial`` holds the bytes of the unfinished frame; they stay buffered.
    """


class FrameTooLong(TransportError):
    """No terminator was found within ``max_size`` bytes.

    The bytes stay buffered. Read past them with ``recv_exactly(n)`` or
    ``recv(n)``, discard them with ``clear()``, or retry with a larger
    ``max_size``.
    """


class NotConnected(TransportError):
    """There is no open connection to the device (it could not be made, or
    the socket was closed)."""
