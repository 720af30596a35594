"""Pure-Python transport: the fallback, and the reference semantics.

:class:`Transport` does buffered, deadline-driven I/O over one connected
``socket.socket``. The compiled ``socs_tcp._transport_c.Transport`` has the
same names, signatures, exceptions and edge behaviour; this module is the one
to read to know what either does.

Rules both follow:

* One deadline per call, computed once; every wait uses what is left of it.
* A receive reads first when data may already be waiting, and waits first
  right after a send (the reply cannot be there yet), to save a syscall.
* Bytes read past what a call returns stay buffered, in order, and are
  returned first by the next receive of any kind. Plain ``recv(bufsize)``
  never reads more than ``bufsize`` bytes from the kernel.
* A timed-out or interrupted frame read keeps every byte it received; the
  exception carries a copy in ``.partial``.
* The descriptor is looked up on every call (never kept), so a socket closed
  behind the transport's back gives ``OSError(EBADF)``, never I/O on a
  descriptor number the process has since reused.

Signal handling (EINTR) is CPython's own (PEP 475): handlers run, an exception
from one propagates, and the call resumes with the time that is left.
"""

import math
import os
import select
import socket
import time

from socs_tcp.errors import (
    FrameTooLong,
    IncompleteRead,
    TransportTimeout,
    second_receiver,
    socket_closed,
)

#: How much a buffered read asks the kernel for at once.
CHUNK_SIZE = 65536

_MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)


def _deadline(timeout):
    """Absolute monotonic deadline for ``timeout`` seconds (None: never)."""
    return None if timeout is None else time.monotonic() + timeout


def _remaining_ms(deadline):
    """Milliseconds left until ``deadline`` for poll(): -1 waits forever.

    Rounded up, so a wait never ends just before the deadline and spins.
    """
    if deadline is None:
        return -1
    return max(0, math.ceil((deadline - time.monotonic()) * 1000))


def _fileno(sock):
    fd = sock.fileno()
    if fd < 0:
        raise socket_closed()
    return fd


def _find_frame_end(buf, terminators, scanned):
    """End index of the earliest complete terminator in ``buf``, or -1.

    ``buf[:scanned]`` was searched before and held no complete terminator, so
    the search resumes just before it. Earliest *end* wins (a match is decided
    by the byte that completes it, whatever the chunking); on a tie, the
    longer terminator, which ends the same frame.
    """
    best = -1
    for term in terminators:
        start = buf.find(term, max(0, scanned - len(term) + 1))
        if start >= 0:
            end = start + len(term)
            if best < 0 or end < best:
                best = end
    return best


class Transport:
    """Buffered I/O with deadlines over one connected socket.

    Parameters
    ----------
    sock : socket.socket
        The connected socket. Its timeout mode may be anything; the transport
        applies its own deadlines.

    Notes
    -----
    One thread may receive while another sends; a second thread that tries
    to receive while one already is gets ``RuntimeError`` (the buffer has a
    single reader; ``TCPInterface.query`` holds a lock).
    """

    #: Which transport this is, for reprs and reports.
    backend = "python"

    __slots__ = (
        "_sock",
        "_buf",
        "_awaiting_reply",
        "_receiving",
        "_read_poller",
        "_write_poller",
    )

    def __init__(self, sock):
        self._sock = sock
        self._buf = bytearray()
        self._awaiting_reply = False
        self._receiving = False
        # One poller per direction, made once: nothing is allocated per call.
        self._read_poller = select.poll()
        self._write_poller = select.poll()

    @property
    def pending(self):
        """Number of received bytes buffered and not yet returned."""
        return len(self._buf)

    def _claim(self):
        """Take the buffer for one receive call (see the class notes)."""
        if self._receiving:
            raise second_receiver()
        self._receiving = True

    def discard(self):
        """Empty the receive buffer; return what it held."""
        self._claim()
        try:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        finally:
            self._receiving = False

    # -- waiting ---------------------------------------------------------

    def _poll(self, poller, events, timeout_ms):
        """Whether the socket becomes ready for ``events`` within the time."""
        fd = _fileno(self._sock)
        poller.register(fd, events)
        try:
            return bool(poller.poll(timeout_ms))
        finally:
            poller.unregister(fd)

    def _wait(self, poller, events, deadline, partial):
        """Block until the socket is ready for ``events`` or the deadline."""
        if not self._poll(poller, events, _remaining_ms(deadline)):
            raise TransportTimeout.expired(partial)

    def _read_kernel(self, read, arg, deadline):
        """Return ``read(fd, arg)`` (``os.read``/``os.readv``) once data is there."""
        sock = self._sock
        # A blocking descriptor (timeout None) must not be read before poll
        # says so, or the read would outlive a finite deadline.
        if self._awaiting_reply or (deadline is not None and sock.gettimeout() is None):
            self._wait(self._read_poller, select.POLLIN, deadline, self._buf)
        self._awaiting_reply = False
        while True:
            try:
                return read(_fileno(sock), arg)
            except BlockingIOError:
                self._wait(self._read_poller, select.POLLIN, deadline, self._buf)

    def _fill(self, deadline):
        """Append one kernel read to the buffer; IncompleteRead at EOF."""
        chunk = self._read_kernel(os.read, CHUNK_SIZE, deadline)
        if not chunk:
            raise IncompleteRead.at_eof(self._buf)
        self._buf += chunk

    # -- sending ---------------------------------------------------------

    def sendall(self, data, timeout):
        """Send every byte of ``data`` before ``timeout`` seconds pass.

        Parameters
        ----------
        data : bytes-like
            What to send.
        timeout : float or None
            Seconds for the whole call; None waits as long as it takes.

        Raises
        ------
        TransportTimeout
            The deadline passed with bytes still unsent.
        OSError
            The kernel refused (``BrokenPipeError``, ``ConnectionResetError``...).
        """
        view = memoryview(data).cast("B")
        deadline = _deadline(timeout)
        sock = self._sock
        while True:
            try:
                sent = sock.send(view, _MSG_NOSIGNAL)
            except BlockingIOError:
                sent = 0
            except TimeoutError:
                raise TransportTimeout.expired() from None
            if sent == len(view):
                break
            view = view[sent:]
            self._wait(self._write_poller, select.POLLOUT, deadline, b"")
        self._awaiting_reply = True

    # -- receiving -------------------------------------------------------

    def recv(self, bufsize, timeout):
        """Return up to ``bufsize`` bytes: buffered ones first, else one read.

        Never asks the kernel for more than ``bufsize`` bytes. Returns ``b""``
        when the peer has closed the connection.

        Raises
        ------
        TransportTimeout
            Nothing arrived before the deadline.
        """
        self._claim()
        try:
            buf = self._buf
            if buf:
                data = bytes(buf[:bufsize])
                del buf[:bufsize]
                return data
            return self._read_kernel(os.read, bufsize, _deadline(timeout))
        finally:
            self._receiving = False

    def recv_into(self, buffer, nbytes, timeout):
        """Receive up to ``nbytes`` bytes into ``buffer``; return the count.

        ``buffer`` is a writable, C-contiguous buffer already cast to bytes
        (``memoryview(...).cast("B")``); ``nbytes`` is at most its length.
        Returns 0 when the peer has closed the connection.
        """
        self._claim()
        try:
            buf = self._buf
            if buf:
                n = min(nbytes, len(buf))
                buffer[:n] = buf[:n]
                del buf[:n]
                return n
            return self._read_kernel(os.readv, [buffer[:nbytes]], _deadline(timeout))
        finally:
            self._receiving = False

    def recv_until(self, terminators, timeout, max_size):
        """Return the next frame, up to and including its terminator.

        Parameters
        ----------
        terminators : tuple of bytes
            Non-empty terminators; the one whose match completes first wins.
        timeout : float or None
            Seconds for the whole call.
        max_size : int
            Longest frame accepted, terminator included.

        Raises
        ------
        TransportTimeout
            The deadline passed first (the bytes stay buffered, ``.partial``).
        IncompleteRead
            The peer closed the connection first (same).
        FrameTooLong
            No terminator within ``max_size`` bytes (the bytes stay buffered).
        """
        self._claim()
        try:
            deadline = _deadline(timeout)
            buf = self._buf
            scanned = 0
            while True:
                end = _find_frame_end(buf, terminators, scanned)
                if end < 0 and len(buf) < max_size:
                    scanned = len(buf)
                    self._fill(deadline)
                    continue
                if end < 0 or end > max_size:
                    raise FrameTooLong.beyond(max_size, terminators, buf)
                frame = bytes(buf[:end])
                del buf[:end]
                return frame
        finally:
            self._receiving = False

    def recv_exactly(self, n, timeout):
        """Return exactly ``n`` bytes.

        Raises
        ------
        TransportTimeout, IncompleteRead
            As for :meth:`recv_until`; the bytes stay buffered.
        """
        self._claim()
        try:
            deadline = _deadline(timeout)
            buf = self._buf
            while len(buf) < n:
                self._fill(deadline)
            frame = bytes(buf[:n])
            del buf[:n]
            return frame
        finally:
            self._receiving = False

    def drain(self):
        """Return and forget everything buffered or already in the kernel.

        Never waits. Stops at EOF.
        """
        self._claim()
        try:
            sock = self._sock
            while True:
                # A blocking descriptor is read only once poll says so; a
                # non-blocking one is simply read until it has nothing.
                if sock.gettimeout() is None and not self._poll(
                    self._read_poller, select.POLLIN, 0
                ):
                    break
                try:
                    chunk = os.read(_fileno(sock), CHUNK_SIZE)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self._buf += chunk
            data = bytes(self._buf)
            self._buf.clear()
            return data
        finally:
            self._receiving = False
