# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, binding=False, embedsignature=True, embedsignature.format=clinic
"""Compiled transport: buffered, deadline-driven I/O over POSIX sockets.

Same contract as ``socs_tcp._transport_py`` (read that module for the
semantics). Here every blocking syscall runs with the GIL released, sends and
receives use ``MSG_DONTWAIT`` so the socket's own timeout mode does not
matter, and the receive buffer is plain C memory. Python's signal handlers
run only where this module calls them, after EINTR, so bytes a kernel read
returned are always in the buffer before a handler can raise.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyObject
from libc.errno cimport EAGAIN, EINTR, errno
from libc.math cimport INFINITY, ceil
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcpy, memmove
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from includes.memmem cimport memmem
from includes.poll cimport POLLIN, POLLOUT, poll, pollfd
from includes.socket cimport MSG_DONTWAIT, MSG_NOSIGNAL, recv, send


cdef extern from "Python.h":
    # Owned references as raw pointers, for a bytes object resized in place
    # (Cython's own declarations would add a reference the resize forbids).
    PyObject *_new_bytes "PyBytes_FromStringAndSize"(const char *, Py_ssize_t) except NULL
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *)
    int _resize_bytes "_PyBytes_Resize"(PyObject **, Py_ssize_t) except -1
    void _decref "Py_DECREF"(PyObject *)

import threading

from socs_tcp._checks import check_terminators, is_immutable
from socs_tcp._limits import CHUNK_SIZE, MAX_READ
from socs_tcp.errors import (
    ConnectionLost,
    FrameTooLong,
    IncompleteRead,
    NotConnected,
    ProtocolError,
    TransportTimeout,
    no_pause,
    not_quiet,
    second_receiver,
)

__all__ = ["CHUNK_SIZE", "Transport"]

cdef Py_ssize_t _CHUNK = CHUNK_SIZE
cdef Py_ssize_t _MAX_READ = MAX_READ
# An emptied buffer larger than this is freed, so one big frame does not
# pin its memory for the life of the connection.
cdef Py_ssize_t _KEEP = 4 * CHUNK_SIZE

cdef object _UNSET = object()  # no terminator remembered yet

# What _io returns instead of a count when the deadline passed first.
cdef enum:
    EXPIRED = -1

# Which syscall _io makes.
cdef enum Op:
    SEND
    RECV

# Which receive _receive runs.
cdef enum Receive:
    RECV_SOME
    RECV_UNTIL
    RECV_EXACTLY
    RECV_INTO
    DRAIN


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline double _deadline(object timeout) except? -1.0:
    """Absolute monotonic deadline for ``timeout`` seconds (None: never)."""
    if timeout is None:
        return INFINITY
    return _now() + <double>timeout


cdef inline int _remaining_ms(double deadline) noexcept nogil:
    """Milliseconds left for poll(), rounded up; -1 waits forever.

    A wait longer than poll() can express is cut short; the caller polls again.
    """
    cdef double left
    if deadline == INFINITY:
        return -1
    left = ceil((deadline - _now()) * 1000.0)
    if left <= 0:
        return 0
    if left > 2147483647.0:
        return 2147483647
    return <int>left


@cython.final
cdef class Transport:
    """Buffered I/O with deadlines over one connected socket.

    Parameters
    ----------
    sock : socket.socket
        The connected socket; its descriptor is looked up on every call.
    """

    #: Which transport this is, for reprs and reports.
    backend = "cython"

    cdef object _sock
    cdef object _send_lock
    cdef char *_buf
    cdef Py_ssize_t _start, _end, _cap
    cdef bint _awaiting_reply
    cdef bint _receiving
    cdef bint _closed
    cdef bint _broken
    # The last immutable terminator object recv_until was given, checked.
    cdef object _terms_key
    cdef tuple _terms

    def __cinit__(self):
        self._buf = NULL
        self._start = self._end = self._cap = 0

    def __init__(self, sock):
        self._sock = sock
        self._send_lock = threading.Lock()
        self._terms_key = _UNSET

    def __dealloc__(self):
        free(self._buf)

    @property
    def pending(self):
        """Number of received bytes buffered and not yet returned."""
        return self._end - self._start

    @property
    def broken(self):
        """True once a read met end of stream or a kernel error ended the connection."""
        return self._broken

    def close(self):
        """Refuse every call from now on; a call in progress raises NotConnected."""
        self._closed = True

    # -- buffer ----------------------------------------------------------

    cdef bytes _peek(self):
        return PyBytes_FromStringAndSize(self._buf + self._start, self._end - self._start)

    cdef bytes _take(self, Py_ssize_t n):
        """Remove and return the first ``n`` buffered bytes."""
        cdef bytes out = PyBytes_FromStringAndSize(self._buf + self._start, n)
        self._consume(n)
        return out

    cdef void _consume(self, Py_ssize_t n) noexcept:
        """Forget the first ``n`` buffered bytes."""
        self._start += n
        if self._start == self._end:
            self._start = self._end = 0
            if self._cap > _KEEP:
                free(self._buf)
                self._buf = NULL
                self._cap = 0

    cdef int _reserve(self, Py_ssize_t room) except -1:
        """Make ``room`` free bytes after the buffered ones."""
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t cap
        cdef char *grown
        if self._cap - self._end >= room:
            return 0
        if self._start and self._cap - used >= room:
            memmove(self._buf, self._buf + self._start, used)
        else:
            cap = max(self._cap * 2, used + room)
            grown = <char *>realloc(self._buf, cap)
            if grown == NULL:
                raise MemoryError()
            self._buf = grown
            self._cap = cap
            if self._start:
                memmove(self._buf, self._buf + self._start, used)
        self._start = 0
        self._end = used
        return 0

    # -- the kernel ------------------------------------------------------
    #
    # All errno handling is here: _wait for poll(), _io for send()/recv().

    cdef int _fileno(self) except -1:
        cdef int fd = self._sock.fileno()
        if fd < 0 or self._closed:
            raise NotConnected.closed()
        return fd

    cdef int _failed(self, int err, bint receiving) except -1:
        """Raise for ``err`` after a syscall: EINTR runs the signal handlers.

        A failed receive's exception carries the buffered bytes (a frame's
        start), as the pure-Python transport's does.
        """
        self._fileno()  # closed during the call: that, not its symptom
        if err == EINTR:
            PyErr_CheckSignals()  # a handler's exception propagates from here
            return 0
        self._broken = True
        raise ConnectionLost.from_errno(err, self._peek() if receiving else b"")

    cdef int _wait(self, short events, double deadline) except -1:
        """1 once the socket is ready for ``events``; 0 if the deadline passes first."""
        cdef pollfd p
        cdef int rc, err, ms
        p.events = events
        while True:
            p.fd = self._fileno()
            ms = _remaining_ms(deadline)
            with nogil:
                rc = poll(&p, 1, ms)
                err = errno
            if rc > 0:
                self._fileno()  # closed while waiting?
                return 1
            if rc == 0:
                self._fileno()
                if _now() >= deadline:
                    return 0
            else:
                self._failed(err, events == POLLIN)

    cdef Py_ssize_t _io(self, Op op, char *p, Py_ssize_t n, double deadline, bint wait) except -2:
        """One send() or recv() of at most ``n`` bytes; the count (recv: 0 at EOF).

        Retries after EINTR; after EAGAIN, waits for readiness if ``wait``,
        else returns EXPIRED at once. EXPIRED also when the deadline passes.
        """
        cdef int fd, err
        cdef Py_ssize_t got
        cdef short events = POLLOUT if op == SEND else POLLIN
        while True:
            fd = self._fileno()
            with nogil:
                if op == SEND:
                    got = send(fd, p, <size_t>n, MSG_NOSIGNAL | MSG_DONTWAIT)
                else:
                    got = recv(fd, p, <size_t>n, MSG_DONTWAIT)
                err = errno
            if got >= 0:
                self._fileno()  # closed during the call: its bytes go with it
                if got == 0 and op == RECV:
                    self._broken = True  # end of stream (n is never 0)
                return got
            # EWOULDBLOCK equals EAGAIN on Linux and the BSDs; testing both
            # makes the C compiler reject a duplicate case.
            if err != EAGAIN:
                self._failed(err, op == RECV)
            elif not wait or not self._wait(events, deadline):
                return EXPIRED

    cdef Py_ssize_t _read(self, char *dest, Py_ssize_t n, double deadline) except -2:
        """One recv() once data is there; EXPIRED if the deadline passes first.

        Right after a send, waits first: the reply cannot be there yet, and
        this saves the failed read.
        """
        if self._awaiting_reply:
            self._awaiting_reply = False
            if not self._wait(POLLIN, deadline):
                return EXPIRED
        return self._io(RECV, dest, n, deadline, True)

    cdef int _fill(self, double deadline, Py_ssize_t size) except -1:
        """Append one kernel read of at most ``size`` bytes to the buffer.

        0 when the deadline passed first; IncompleteRead at EOF.
        """
        cdef Py_ssize_t got
        self._reserve(size)
        got = self._read(self._buf + self._end, size, deadline)
        if got == EXPIRED:
            return 0
        if got == 0:
            raise IncompleteRead.at_eof(self._peek())
        self._end += got
        return 1

    # -- sending ---------------------------------------------------------

    def sendall(self, data, timeout):
        """Send every byte of ``data`` before ``timeout`` seconds pass."""
        cdef Py_buffer view
        cdef Py_ssize_t done = 0, sent
        cdef double deadline = _deadline(timeout)
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            with self._send_lock:
                while done < view.len:
                    sent = self._io(SEND, <char *>view.buf + done, view.len - done, deadline, True)
                    if sent == EXPIRED:
                        raise TransportTimeout.unsent(timeout, done, view.len)
                    done += sent
        finally:
            PyBuffer_Release(&view)
        self._awaiting_reply = True

    # -- receiving -------------------------------------------------------
    #
    # Every receive runs in _receive, which holds the buffer for the call: a
    # second thread receiving at the same time could otherwise move or
    # reallocate the buffer under a recv() running without the GIL.

    cdef object _receive(
        self, Receive what, Py_ssize_t n, timeout, tuple terms=None, buffer=None
    ):
        """Run one receive while holding the buffer; refuse a second receiver."""
        if self._receiving:
            raise second_receiver()
        self._receiving = True
        try:
            if what == RECV_UNTIL:
                return self._recv_until(terms, timeout, n)
            if what == RECV_SOME:
                return self._recv(n, timeout)
            if what == RECV_EXACTLY:
                return self._recv_exactly(n, timeout)
            if what == RECV_INTO:
                return self._recv_into(buffer, n, timeout)
            return self._drain(n, timeout)
        finally:
            self._receiving = False

    def recv(self, Py_ssize_t bufsize, timeout):
        """Return up to ``bufsize`` bytes: buffered ones first, else one read."""
        return self._receive(RECV_SOME, bufsize, timeout)

    def recv_until(self, terminator, timeout, Py_ssize_t max_size):
        """Return the next frame, up to and including its terminator."""
        cdef tuple terms
        cdef Py_ssize_t end
        if terminator is self._terms_key:
            terms = self._terms
        else:
            terms = check_terminators(terminator)
            if is_immutable(terminator):
                self._terms_key = terminator
                self._terms = terms
        # A whole frame already buffered is returned at once. Nothing here
        # releases the GIL, so it needs no claim, only no receive in progress
        # (one could be filling the buffer without the GIL).
        if not self._receiving and self._end > self._start:
            end = self._frame_end(terms, 0)
            if 0 < end <= max_size:
                return self._take(end)
        return self._receive(RECV_UNTIL, max_size, timeout, terms)

    def recv_exactly(self, Py_ssize_t n, timeout):
        """Return exactly ``n`` bytes."""
        return self._receive(RECV_EXACTLY, n, timeout)

    def recv_into(self, buffer, Py_ssize_t nbytes, timeout):
        """Receive up to ``nbytes`` bytes into ``buffer``; return the count."""
        return self._receive(RECV_INTO, nbytes, timeout, None, buffer)

    def drain(self, Py_ssize_t preview, timeout):
        """Discard the buffer and what the kernel holds now; (count, head)."""
        return self._receive(DRAIN, preview, timeout)

    cdef object _recv(self, Py_ssize_t bufsize, timeout):
        """Buffered bytes first, else one kernel read into a new bytes object."""
        cdef PyObject *raw
        cdef Py_ssize_t got
        if self._end > self._start:
            return self._take(min(bufsize, self._end - self._start))
        # Read straight into the bytes object and trim it after: no copy, as
        # socket.recv does.
        raw = _new_bytes(NULL, bufsize)
        try:
            got = self._read(_bytes_data(raw), bufsize, _deadline(timeout))
        except BaseException:
            _decref(raw)
            raise
        if got == EXPIRED:
            _decref(raw)
            raise TransportTimeout.expired(timeout)
        if got != bufsize:
            _resize_bytes(&raw, got)  # on failure it frees raw and raises
        out = <object>raw  # takes a reference; give back the one we held
        _decref(raw)
        return out

    cdef object _recv_into(self, buffer, Py_ssize_t nbytes, timeout):
        cdef Py_buffer view
        cdef Py_ssize_t got
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        try:
            if not 0 <= nbytes <= view.len:
                raise ValueError(f"nbytes={nbytes} does not fit a {view.len}-byte buffer")
            if self._end > self._start:
                got = min(nbytes, self._end - self._start)
                memcpy(view.buf, self._buf + self._start, got)
                self._consume(got)
                return got
            got = self._read(<char *>view.buf, nbytes, _deadline(timeout))
            if got == EXPIRED:
                raise TransportTimeout.expired(timeout)
            return got
        finally:
            PyBuffer_Release(&view)

    cdef Py_ssize_t _frame_end(self, tuple terminators, Py_ssize_t scanned):
        """Offset just past the earliest complete terminator, or -1."""
        cdef Py_ssize_t best = -1, tlen, end, start
        cdef const char *hay = self._buf + self._start
        cdef Py_ssize_t hlen = self._end - self._start
        cdef const char *hit
        cdef bytes term
        if hlen <= scanned:
            return -1  # nothing new to search (and the buffer may be NULL)
        if len(terminators) == 1 and len(<bytes>terminators[0]) == 1:
            # The usual case, one single-byte terminator: a plain memchr.
            hit = <const char *>memchr(hay + scanned, (<bytes>terminators[0])[0], hlen - scanned)
            return -1 if hit == NULL else (hit - hay) + 1
        for term in terminators:
            tlen = len(term)
            start = scanned - tlen + 1
            if start < 0:
                start = 0
            if hlen - start < tlen:
                continue
            hit = <const char *>memmem(hay + start, hlen - start, <const char *>term, tlen)
            if hit != NULL:
                end = (hit - hay) + tlen
                if best < 0 or end < best:
                    best = end
        return best

    cdef bytes _recv_until(self, tuple terminators, timeout, Py_ssize_t max_size):
        cdef Py_ssize_t scanned = 0, end
        cdef double deadline = INFINITY
        cdef bint reading = False
        while True:
            end = self._frame_end(terminators, scanned)
            if end >= 0 or self._end - self._start >= max_size:
                break
            scanned = self._end - self._start
            if not reading:
                deadline = _deadline(timeout)
                reading = True
            elif _now() >= deadline:
                raise TransportTimeout.expired(timeout, self._peek())
            if not self._fill(deadline, _CHUNK):
                raise TransportTimeout.expired(timeout, self._peek())
        if end < 0 or end > max_size:
            raise FrameTooLong.beyond(max_size, terminators, self._peek())
        return self._take(end)

    cdef bytes _recv_exactly(self, Py_ssize_t n, timeout):
        cdef double deadline = INFINITY
        cdef bint reading = False
        cdef Py_ssize_t size
        while self._end - self._start < n:
            if not reading:
                deadline = _deadline(timeout)
                reading = True
            elif _now() >= deadline:
                raise TransportTimeout.expired(timeout, self._peek())
            size = min(max(_CHUNK, n - (self._end - self._start)), _MAX_READ)
            if not self._fill(deadline, size):
                raise TransportTimeout.expired(timeout, self._peek())
        return self._take(n)

    cdef tuple _drain(self, Py_ssize_t preview, timeout):
        cdef Py_ssize_t count = self._end - self._start, got
        cdef bytes head = self._take(min(preview, count))
        cdef double deadline = _deadline(timeout)
        self._consume(self._end - self._start)
        while True:
            # Read into the free space and forget it: memory stays bounded.
            self._reserve(_CHUNK)
            got = self._io(RECV, self._buf + self._end, _CHUNK, 0.0, False)
            if got <= 0:  # nothing more there (EXPIRED), or EOF (0)
                break
            if len(head) < preview:
                head += PyBytes_FromStringAndSize(
                    self._buf + self._end, min(got, preview - len(head))
                )
            count += got
            if _now() >= deadline:
                break
        self._awaiting_reply = False
        return count, head

    # -- instrument protocols (see _contract: peek, fill, recv_quiet,
    # -- recv_block_header) --------------------------------------------------
    #
    # Each claims the buffer as _receive does (fill and the reads release the
    # GIL), and builds on _fill, _peek and _take only.

    cdef int _claim(self) except -1:
        if self._receiving:
            raise second_receiver()
        self._receiving = True
        return 0

    def peek(self, Py_ssize_t offset, Py_ssize_t n):
        """A copy of buffered bytes ``offset`` to ``offset + n``; no I/O."""
        cdef Py_ssize_t have = self._end - self._start
        if offset < 0 or n < 0:
            raise ValueError(f"offset and n must be >= 0, not {offset}, {n}")
        if offset > have:
            offset = have
        if n > have - offset:
            n = have - offset
        return PyBytes_FromStringAndSize(self._buf + self._start + offset, n)

    def fill(self, Py_ssize_t n, timeout):
        """Read until at least ``n`` bytes are buffered; return how many are."""
        cdef double deadline = INFINITY
        cdef bint reading = False
        cdef Py_ssize_t size
        self._claim()
        try:
            while self._end - self._start < n:
                if not reading:
                    deadline = _deadline(timeout)
                    reading = True
                elif _now() >= deadline:
                    raise TransportTimeout.expired(timeout, self._peek())
                size = min(max(_CHUNK, n - (self._end - self._start)), _MAX_READ)
                if not self._fill(deadline, size):
                    raise TransportTimeout.expired(timeout, self._peek())
            return self._end - self._start
        finally:
            self._receiving = False

    def recv_quiet(self, double idle, timeout, Py_ssize_t max_size):
        """Everything that arrives until ``idle`` seconds pass without a byte."""
        cdef double deadline = _deadline(timeout)
        cdef double now, quiet
        self._claim()
        try:
            if self._end == self._start and not self._fill(deadline, _CHUNK):
                raise TransportTimeout.expired(timeout)
            while True:
                if self._end - self._start >= max_size:
                    raise no_pause(max_size, idle, self._peek())
                now = _now()
                if now >= deadline:
                    raise not_quiet(timeout, idle, self._peek())
                quiet = now + idle
                if quiet >= deadline:
                    # Silence until the deadline would still be too short.
                    if not self._fill(deadline, _CHUNK):
                        raise not_quiet(timeout, idle, self._peek())
                elif not self._fill(quiet, _CHUNK):
                    return self._take(self._end - self._start)
        finally:
            self._receiving = False

    def recv_block_header(self, timeout):
        """Wait for an IEEE 488.2 block header; ``(header size, data size)``."""
        cdef double deadline = INFINITY
        cdef bint reading = False
        cdef Py_ssize_t header = 0
        cdef long long length = 0
        self._claim()
        try:
            while not self._block_header(&header, &length):
                if not reading:
                    deadline = _deadline(timeout)
                    reading = True
                elif _now() >= deadline:
                    raise TransportTimeout.expired(timeout, self._peek())
                if not self._fill(deadline, _CHUNK):
                    raise TransportTimeout.expired(timeout, self._peek())
            return header, length
        finally:
            self._receiving = False

    cdef int _block_header(self, Py_ssize_t *header, long long *length) except -1:
        """1 and the sizes once a whole block header is buffered (length -1
        for ``#0``); 0 while it is incomplete; ProtocolError as soon as a
        byte cannot belong to one."""
        cdef const unsigned char *p = <const unsigned char *>(self._buf + self._start)
        cdef Py_ssize_t have = self._end - self._start, size, i
        cdef long long value = 0
        if have == 0:
            return 0
        if p[0] != 35 or (have > 1 and not 48 <= p[1] <= 57):  # b"#", a digit
            raise ProtocolError.block_header(self._peek())
        if have < 2:
            return 0
        size = 2 + p[1] - 48
        for i in range(2, min(have, size)):
            if not 48 <= p[i] <= 57:
                raise ProtocolError.block_header(self._peek())
            value = value * 10 + (p[i] - 48)
        if have < size:
            return 0
        header[0] = size
        length[0] = value if size > 2 else -1
        return 1

# How this module was compiled: JSON that setup.py passes as a macro
# (python -m socs_tcp info shows it).
cdef extern from *:
    """
    #ifndef SOCS_TCP_BUILD_INFO
    #define SOCS_TCP_BUILD_INFO "{}"
    #endif
    """
    const char *SOCS_TCP_BUILD_INFO

BUILD_INFO = SOCS_TCP_BUILD_INFO.decode("ascii")
