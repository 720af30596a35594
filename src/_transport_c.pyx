# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, binding=False, embedsignature=True, embedsignature.format=clinic
"""Compiled transport: buffered, deadline-driven I/O over POSIX sockets.

Same contract as ``socs_tcp._transport_py`` (see ``socs_tcp._contract`` for
the semantics). Here every blocking syscall runs with the GIL released and
the receive buffer is plain C memory. The descriptor is read from the socket
object's C struct on every call (never kept), and is in blocking mode: the
first read of a call is one blocking ``recv`` that the kernel bounds
(``SO_RCVTIMEO`` = the call's timeout, set only when it changes); later reads
of the same call, and any read of a descriptor legacy code made
non-blocking, wait with ``poll`` for what is left of the deadline. Sends use
``MSG_DONTWAIT``. Python's signal handlers run only where this module calls
them, after EINTR, so bytes a kernel read returned are always in the buffer
before a handler can raise.
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
from cpython.pythread cimport (
    NOWAIT_LOCK,
    PY_LOCK_ACQUIRED,
    PY_LOCK_INTR,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_get_thread_ident,
    PyThread_free_lock,
    PyThread_release_lock,
    PyThread_type_lock,
)
from libc.errno cimport EAGAIN, EINTR, errno
from libc.math cimport INFINITY, ceil, floor
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcpy, memmove
from posix.fcntl cimport F_GETFL, F_SETFL, O_NONBLOCK, fcntl
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec, timeval

from includes.memmem cimport memmem
from includes.poll cimport POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, poll, pollfd
from includes.pysocket cimport sock_fd
from includes.socket cimport (
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_PEEK,
    SO_RCVTIMEO,
    SOL_SOCKET,
    recv,
    send,
    setsockopt,
)


cdef extern from "Python.h":
    # Owned references as raw pointers, for a bytes object resized in place
    # (Cython's own declarations would add a reference the resize forbids).
    PyObject *_new_bytes "PyBytes_FromStringAndSize"(const char *, Py_ssize_t) except NULL
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *)
    int _resize_bytes "_PyBytes_Resize"(PyObject **, Py_ssize_t) except -1
    void _decref "Py_DECREF"(PyObject *)
    # Waits for a lock without the GIL; PY_LOCK_INTR when a signal arrives.
    int PyThread_acquire_lock_timed(PyThread_type_lock, long long, int) nogil

import socket as _socket_module

from socs_tcp._checks import check_terminators, is_immutable
from socs_tcp._limits import CHUNK_SIZE, MAX_READ, PREVIEW
from socs_tcp._trace import SWITCH as _TRACE_SWITCH
from socs_tcp.errors import (
    ConnectionLost,
    FrameTooLong,
    IncompleteRead,
    NotConnected,
    ProtocolError,
    TransportError,
    TransportTimeout,
    no_pause,
    not_quiet,
    second_receiver,
)

__all__ = ["CHUNK_SIZE", "Frames", "Transport"]

cdef Py_ssize_t _CHUNK = CHUNK_SIZE
cdef Py_ssize_t _MAX_READ = MAX_READ
cdef Py_ssize_t _PREVIEW = PREVIEW
# An emptied buffer larger than this is freed, so one big frame does not
# pin its memory for the life of the connection.
cdef Py_ssize_t _KEEP = 4 * CHUNK_SIZE

cdef object _UNSET = object()  # no terminator remembered yet
cdef tuple _NOTHING_CLEARED = (0, b"")  # what _clear returns when nothing is there

# What the reads return instead of a count when the deadline passed first.
cdef enum:
    EXPIRED = -1

# Why sendall/exchange did not send (see the contract's Status).
cdef enum:
    SENT = 0
    BROKEN = 1
    IDLE = 2
    TRACE = 3
    OWED = 4
    STALE = 5
    HELD = 6

# Which receive _receive runs.
cdef enum Receive:
    RECV_SOME
    RECV_UNTIL
    RECV_EXACTLY
    RECV_INTO
    RECV_EXACTLY_INTO
    CLEAR
    EXCHANGE


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline double _deadline(object timeout) except? -1.0:
    """Absolute monotonic deadline for ``timeout`` seconds (None: never)."""
    if timeout is None:
        return INFINITY
    return _now() + <double>timeout


# The longest single wait of a poll() or a blocking recv (see _remaining_ms).
cdef enum:
    _MAX_WAIT_MS = 1000


cdef inline int _remaining_ms(double deadline) noexcept nogil:
    """Milliseconds left for one poll(), rounded up, at most _MAX_WAIT_MS.

    A longer wait (or none) is made of several; between them the caller
    looks the descriptor up again, so a wait on a number that was closed
    and reused by another connection ends within a second, never hangs.
    """
    cdef double left
    if deadline == INFINITY:
        return _MAX_WAIT_MS
    left = ceil((deadline - _now()) * 1000.0)
    if left <= 0:
        return 0
    if left > _MAX_WAIT_MS:
        return _MAX_WAIT_MS
    return <int>left


@cython.final
cdef class Transport:
    """Buffered I/O with deadlines over one connected socket (see the contract).

    Parameters
    ----------
    sock : socket.socket
        The connected socket; its descriptor is read on every call.
    """

    #: Which transport this is, for reprs and reports.
    backend = "cython"

    cdef object _sock
    cdef PyThread_type_lock _send_lock
    cdef char *_buf
    cdef Py_ssize_t _start, _end, _cap
    cdef bint _receiving
    cdef bint _closed
    cdef bint _broken
    # The last recv() got all it asked for: see _recv.
    cdef bint _reads_fill
    cdef double _last_send
    # The SO_RCVTIMEO last set, in seconds (INFINITY: none; -1: unknown).
    cdef double _rcvtimeo
    # Discarded by an exchange that then left it to the front; clear() reports it.
    cdef Py_ssize_t _stale
    cdef bytes _stale_head
    cdef list _trace_switch
    #: True while a reply is owed: a query sent and did not get its reply.
    cdef public bint owed
    #: See the contract: the thread the front's policy holds this for, or 0.
    cdef public unsigned long holder
    # The last immutable terminator object recv_until was given, checked.
    cdef object _terms_key
    cdef tuple _terms

    def __cinit__(self):
        self._buf = NULL
        self._start = self._end = self._cap = 0
        self._send_lock = PyThread_allocate_lock()
        if self._send_lock == NULL:
            raise MemoryError()

    def __init__(self, sock):
        cdef int fd, flags
        if not isinstance(sock, _socket_module.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        fd = sock.fileno()
        if sock_fd(sock) != fd:
            raise RuntimeError(
                "this Python's socket object has an unexpected layout; "
                "set SOCS_TCP_BACKEND=python"
            )
        self._sock = sock
        self._terms_key = _UNSET
        self._last_send = -INFINITY
        self._rcvtimeo = -1.0
        self._stale_head = b""
        self._trace_switch = _TRACE_SWITCH
        # Blocking mode, so a read can wait in the kernel. Python's own calls
        # on a socket in timeout mode poll first, so they work the same; a
        # socket made non-blocking on purpose (timeout 0) is left alone.
        if fd >= 0 and sock.gettimeout() != 0.0:
            flags = fcntl(fd, F_GETFL)
            if flags >= 0 and flags & O_NONBLOCK:
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)

    def __dealloc__(self):
        free(self._buf)
        if self._send_lock != NULL:
            PyThread_free_lock(self._send_lock)

    @property
    def pending(self):
        """Number of received bytes buffered and not yet returned."""
        return self._end - self._start

    @property
    def broken(self):
        """True once a read met end of stream or a kernel error ended the connection."""
        return self._broken

    @property
    def last_send(self):
        """Monotonic time the last send completed; -inf before the first."""
        return self._last_send

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

    cdef int _unread(self, const char *data, Py_ssize_t n) except -1:
        """Put ``n`` bytes back in front of the buffered ones."""
        cdef Py_ssize_t used = self._end - self._start
        if n <= 0:
            return 0
        if self._start >= n:
            self._start -= n
        else:
            self._reserve(n)
            memmove(self._buf + self._start + n, self._buf + self._start, used)
            self._end += n
        memcpy(self._buf + self._start, data, n)
        return 0

    # -- the kernel ------------------------------------------------------
    #
    # All errno handling is here: _wait for poll(), _read and _write for
    # recv() and send().

    cdef inline int _fd(self) except -1:
        cdef int fd = sock_fd(self._sock)
        if fd < 0 or self._closed:
            raise NotConnected.closed()
        return fd

    cdef int _failed(self, int err, bint receiving) except -1:
        """Raise for ``err`` after a syscall: EINTR runs the signal handlers.

        A failed receive's exception carries the buffered bytes (a frame's
        start), as the pure-Python transport's does.
        """
        self._fd()  # closed during the call: that, not its symptom
        if err == EINTR:
            PyErr_CheckSignals()  # a handler's exception propagates from here
            return 0
        self._broken = True
        raise ConnectionLost.from_errno(err, self._peek() if receiving else b"")

    cdef bint _input_waiting(self) except -1:
        """Whether bytes, or the end of the stream, wait in the kernel.

        One peek that cannot block, so it keeps the GIL: what a clear that
        need not wait for quiet asks first (as a stale-safe exchange does
        before every send), and almost always "no".
        """
        cdef char byte
        cdef ssize_t got
        cdef int err
        while True:
            got = recv(self._fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT)
            err = errno
            if got >= 0:
                return True
            if err == EAGAIN:
                return False
            self._failed(err, True)  # EINTR: the handlers ran; peek again

    cdef int _wait(self, short events, double deadline) except -1:
        """1 once the socket is ready for ``events``; 0 if the deadline passes first."""
        cdef pollfd p
        cdef int rc, err, ms
        p.events = events
        PyErr_CheckSignals()  # see _read
        while True:
            p.fd = self._fd()
            ms = _remaining_ms(deadline)
            with nogil:
                rc = poll(&p, 1, ms)
                err = errno
            self._fd()  # closed while waiting?
            if rc > 0:
                return 1
            if rc == 0:
                if _now() >= deadline:
                    return 0
            else:
                self._failed(err, events == POLLIN)

    cdef int _arm(self, timeout) except -1:
        """Make the kernel bound a blocking read by ``timeout``; 1 if it can.

        0 for a zero timeout (a read must not wait at all). SO_RCVTIMEO is
        set only when the value changes.
        """
        cdef double limit
        cdef timeval tv
        cdef int fd
        if timeout is None:
            limit = INFINITY
        else:
            limit = <double>timeout
            if limit <= 0.0:
                return 0
        if limit == self._rcvtimeo:
            return 1
        if limit == INFINITY:
            tv.tv_sec = 0
            tv.tv_usec = 0
        else:
            tv.tv_sec = <long>floor(limit)
            tv.tv_usec = <long>ceil((limit - floor(limit)) * 1e6)
            if tv.tv_usec >= 1000000:
                tv.tv_sec += 1
                tv.tv_usec = 0
            if tv.tv_sec == 0 and tv.tv_usec == 0:
                tv.tv_usec = 1  # 0 would mean forever
        fd = self._fd()
        if setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0:
            return 0  # not settable here: poll instead
        self._rcvtimeo = limit
        return 1

    cdef Py_ssize_t _read(self, char *dest, Py_ssize_t n, double deadline, bint block) except -2:
        """One recv() of at most ``n`` bytes; the count (0 at EOF), or EXPIRED.

        ``block``: the call's first read, a blocking recv the kernel bounds
        (see ``_arm``). Otherwise, or when it comes back early (EINTR, or a
        non-blocking descriptor), poll for what is left of the deadline.
        """
        cdef int fd, err
        cdef int flags = 0 if block else MSG_DONTWAIT
        cdef Py_ssize_t got
        if block:
            # A signal that came since the last bytecode (between a send and
            # this read, say) must not wait for the whole timeout.
            PyErr_CheckSignals()
        while True:
            fd = self._fd()
            with nogil:
                got = recv(fd, dest, <size_t>n, flags)
                err = errno
            if got >= 0:
                self._fd()  # closed during the call: its bytes go with it
                if got == 0:
                    self._broken = True  # end of stream (n is never 0)
                return got
            # EWOULDBLOCK equals EAGAIN on Linux and the BSDs; testing both
            # makes the C compiler reject a duplicate case.
            if err != EAGAIN:
                self._failed(err, True)
            else:
                self._fd()
            flags = MSG_DONTWAIT
            if _now() >= deadline or not self._wait(POLLIN, deadline):
                return EXPIRED

    cdef Py_ssize_t _write(self, const char *p, Py_ssize_t n, double deadline) except -2:
        """One send() of at most ``n`` bytes once there is room; EXPIRED if late."""
        cdef int fd, err
        cdef Py_ssize_t sent
        while True:
            fd = self._fd()
            with nogil:
                sent = send(fd, p, <size_t>n, MSG_NOSIGNAL | MSG_DONTWAIT)
                err = errno
            if sent >= 0:
                self._fd()
                return sent
            if err != EAGAIN:
                self._failed(err, False)
            elif not self._wait(POLLOUT, deadline):
                return EXPIRED

    cdef int _fill(self, double deadline, Py_ssize_t size, bint block) except -1:
        """Append one kernel read of at most ``size`` bytes to the buffer.

        0 when the deadline passed first; IncompleteRead at EOF.
        """
        cdef Py_ssize_t got
        self._reserve(size)
        got = self._read(self._buf + self._end, size, deadline, block)
        if got == EXPIRED:
            return 0
        if got == 0:
            raise IncompleteRead.at_eof(self._peek())
        self._end += got
        return 1

    # -- sending ---------------------------------------------------------

    cdef int _lock(self) except -1:
        """Take the send lock; wait without the GIL, signal handlers run."""
        cdef int got
        if PyThread_acquire_lock(self._send_lock, NOWAIT_LOCK):
            return 0
        while True:
            with nogil:
                got = PyThread_acquire_lock_timed(self._send_lock, -1, 1)
            if got == PY_LOCK_ACQUIRED:
                return 0
            if got == PY_LOCK_INTR:
                PyErr_CheckSignals()

    cdef int _check(self, idle_check) except -1:
        """Why not to send now (a status), or SENT: see the contract."""
        cdef pollfd p
        cdef int rc
        if self.holder != 0 and self.holder != PyThread_get_thread_ident():
            return HELD
        if idle_check is None:
            return SENT
        if self._broken:
            return BROKEN
        if self._trace_switch[0]:
            return TRACE
        if self.owed:
            return OWED
        if _now() - self._last_send >= <double>idle_check:
            # Zero-wait: has the peer closed or reset the idle connection?
            p.fd = self._fd()
            p.events = POLLIN | POLLRDHUP
            rc = poll(&p, 1, 0)
            if rc > 0 and p.revents & (POLLERR | POLLHUP | POLLRDHUP):
                return IDLE
        return SENT

    cdef int _send_all(self, const char *p, Py_ssize_t n, timeout) except -1:
        cdef double deadline = _deadline(timeout)
        cdef Py_ssize_t done = 0, sent
        while done < n:
            sent = self._write(p + done, n - done, deadline)
            if sent == EXPIRED:
                raise TransportTimeout.unsent(timeout, done, n)
            done += sent
        self._last_send = _now()
        return 0

    def sendall(self, data, timeout, idle_check=None):
        """Send every byte of ``data``; or a status saying why not (see the contract)."""
        cdef Py_buffer view
        cdef int status
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._lock()
            try:
                status = self._check(idle_check)
                if status == SENT:
                    self._send_all(<const char *>view.buf, view.len, timeout)
            finally:
                PyThread_release_lock(self._send_lock)
        finally:
            PyBuffer_Release(&view)
        return status

    # -- receiving -------------------------------------------------------
    #
    # Every receive runs in _receive, which holds the buffer for the call: a
    # second thread receiving at the same time could otherwise move or
    # reallocate the buffer under a recv() running without the GIL.

    cdef object _receive(
        self, Receive what, Py_ssize_t n, timeout, tuple terms=None, buffer=None,
        double quiet=0.0,
    ):
        """Run one receive while holding the buffer; refuse a second receiver.

        A receive that fails leaves ``owed`` set (what it waited for may
        still come); one that succeeds clears it (see the contract).
        """
        if self._receiving:
            raise second_receiver()
        self._receiving = True
        try:
            if what == CLEAR:
                return self._clear(n, quiet, timeout)
            if what == RECV_UNTIL:
                result = self._recv_until(terms, timeout, n)
            elif what == RECV_SOME:
                result = self._recv(n, timeout)
            elif what == RECV_EXACTLY:
                result = self._recv_exactly(n, timeout)
            elif what == RECV_INTO:
                result = self._recv_into(buffer, n, timeout)
            else:
                result = self._recv_exactly_into(buffer, n, timeout)
            self.owed = False
            return result
        except BaseException:
            self.owed = True
            raise
        finally:
            self._receiving = False

    def recv(self, Py_ssize_t bufsize, timeout):
        """Return up to ``bufsize`` bytes: buffered ones first, else one read."""
        return self._receive(RECV_SOME, bufsize, timeout)

    cdef tuple _terminators(self, terminator):
        """``terminator`` checked; the last immutable one is remembered."""
        cdef tuple terms
        if terminator is self._terms_key:
            return self._terms
        terms = check_terminators(terminator)
        if is_immutable(terminator):
            self._terms_key = terminator
            self._terms = terms
        return terms

    cdef object _buffered_frame(self, tuple terms, Py_ssize_t max_size):
        """A whole frame already buffered, taken; else None.

        Nothing here releases the GIL, so it needs no claim, only no receive
        in progress (one could be filling the buffer without the GIL).
        """
        cdef Py_ssize_t end
        if not self._receiving and self._end > self._start:
            end = self._frame_end(terms, 0)
            if 0 < end <= max_size:
                self.owed = False
                return self._take(end)
        return None

    def recv_until(self, terminator, timeout, Py_ssize_t max_size):
        """Return the next frame, up to and including its terminator."""
        cdef tuple terms = self._terminators(terminator)
        frame = self._buffered_frame(terms, max_size)
        if frame is not None:
            return frame
        return self._receive(RECV_UNTIL, max_size, timeout, terms)

    def frames(self, terminator, timeout, Py_ssize_t max_size, on_error=None):
        """An iterator of frames, as recv_until returns them, to end of stream."""
        return Frames(self, self._terminators(terminator), timeout, max_size, on_error)

    def recv_exactly(self, Py_ssize_t n, timeout):
        """Return exactly ``n`` bytes."""
        return self._receive(RECV_EXACTLY, n, timeout)

    def recv_into(self, buffer, Py_ssize_t nbytes, timeout):
        """Receive up to ``nbytes`` bytes into ``buffer``; return the count."""
        return self._receive(RECV_INTO, nbytes, timeout, None, buffer)

    def recv_exactly_into(self, buffer, Py_ssize_t nbytes, timeout):
        """Fill the first ``nbytes`` bytes of ``buffer``; return ``nbytes``."""
        return self._receive(RECV_EXACTLY_INTO, nbytes, timeout, None, buffer)

    def clear(self, Py_ssize_t preview, double quiet, timeout):
        """Discard the buffer and the input; (count, first ``preview`` bytes)."""
        return self._receive(CLEAR, preview, timeout, None, None, quiet)

    def exchange(self, data, terminator, timeout, Py_ssize_t max_size, bint clear, idle_check):
        """Drop stale input, send ``data``, return the reply frame (see the contract)."""
        cdef tuple terms = self._terminators(terminator)
        cdef Py_buffer view
        cdef int status
        cdef bytes frame
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._lock()  # another exchange finishes first
            try:
                # First: a thread the policy holds the transport for may be
                # receiving, and this call then waits for it in the front.
                status = self._check(idle_check)
            except BaseException:
                PyThread_release_lock(self._send_lock)
                raise
            if status != SENT:
                PyThread_release_lock(self._send_lock)
                return status
            if self._receiving:
                PyThread_release_lock(self._send_lock)
                raise second_receiver()
            self._receiving = True
            try:
                if clear:
                    self._stale, self._stale_head = self._clear(_PREVIEW, 0.0, timeout)
                    if self._stale:
                        return STALE  # the front logs it (its clear reports it)
                self._send_all(<const char *>view.buf, view.len, timeout)
                self.owed = True
                frame = self._recv_until(terms, timeout, max_size)
                self.owed = False
            finally:
                self._receiving = False
                PyThread_release_lock(self._send_lock)
        finally:
            PyBuffer_Release(&view)
        return _strip(frame, terms)

    cdef object _recv(self, Py_ssize_t bufsize, timeout):
        """Buffered bytes first, else one kernel read into a new bytes object.

        After a read that filled its request (a stream), the next one reads
        straight into a bytes object of ``bufsize`` bytes, as socket.recv
        does. Otherwise (a reply shorter than asked for) it reads into the
        buffer's free space and copies what came into a bytes object of its
        own size: for a short reply that is far cheaper than allocating
        ``bufsize`` bytes and trimming them (a large malloc and a realloc).
        Either way the kernel is asked for ``bufsize`` bytes, no more.
        """
        cdef PyObject *raw
        cdef Py_ssize_t got
        cdef bint block
        if self._end > self._start:
            return self._take(min(bufsize, self._end - self._start))
        block = self._arm(timeout)
        if not self._reads_fill and bufsize <= _CHUNK:
            self._reserve(bufsize)  # the buffer is empty: this keeps or makes it
            got = self._read(self._buf, bufsize, _deadline(timeout), block)
            if got == EXPIRED:
                raise TransportTimeout.expired(timeout)
            self._reads_fill = got == bufsize
            return PyBytes_FromStringAndSize(self._buf, got)
        raw = _new_bytes(NULL, bufsize)
        try:
            got = self._read(_bytes_data(raw), bufsize, _deadline(timeout), block)
        except BaseException:
            _decref(raw)
            raise
        if got == EXPIRED:
            _decref(raw)
            raise TransportTimeout.expired(timeout)
        self._reads_fill = got == bufsize
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
            got = self._read(<char *>view.buf, nbytes, _deadline(timeout), self._arm(timeout))
            if got == EXPIRED:
                raise TransportTimeout.expired(timeout)
            return got
        finally:
            PyBuffer_Release(&view)

    cdef object _recv_exactly_into(self, buffer, Py_ssize_t nbytes, timeout):
        cdef Py_buffer view
        cdef Py_ssize_t got = 0, count
        cdef double deadline
        cdef bint block
        cdef char *dest
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        try:
            if not 0 <= nbytes <= view.len:
                raise ValueError(f"nbytes={nbytes} does not fit a {view.len}-byte buffer")
            dest = <char *>view.buf
            if self._end > self._start:
                got = min(nbytes, self._end - self._start)
                memcpy(dest, self._buf + self._start, got)
                self._consume(got)
            try:
                if got < nbytes:
                    deadline = _deadline(timeout)
                    block = self._arm(timeout)
                while got < nbytes:
                    count = self._read(dest + got, min(nbytes - got, _MAX_READ), deadline, block)
                    if count == EXPIRED:
                        raise TransportTimeout.expired(timeout, PyBytes_FromStringAndSize(dest, got))
                    if count == 0:
                        raise IncompleteRead.at_eof(PyBytes_FromStringAndSize(dest, got))
                    got += count
                    block = False
                    if got < nbytes and _now() >= deadline:
                        raise TransportTimeout.expired(timeout, PyBytes_FromStringAndSize(dest, got))
            except ConnectionLost as exc:
                exc.partial = PyBytes_FromStringAndSize(dest, got)
                raise
            except BaseException as exc:
                # A signal handler raised (in a wait, or while a timeout was
                # built): the caller cannot tell how much of ``buffer`` was
                # written, so those bytes go back in front for the retry.
                if not isinstance(exc, TransportError):
                    self._unread(dest, got)
                raise
            return nbytes
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
        cdef bint reading = False, block = False
        while True:
            end = self._frame_end(terminators, scanned)
            if end >= 0 or self._end - self._start >= max_size:
                break
            scanned = self._end - self._start
            if not reading:
                deadline = _deadline(timeout)
                block = self._arm(timeout)
                reading = True
            elif _now() >= deadline:
                raise TransportTimeout.expired(timeout, self._peek())
            else:
                block = False
            if not self._fill(deadline, _CHUNK, block):
                raise TransportTimeout.expired(timeout, self._peek())
        if end < 0 or end > max_size:
            raise FrameTooLong.beyond(max_size, terminators, self._peek())
        return self._take(end)

    cdef bytes _recv_exactly(self, Py_ssize_t n, timeout):
        cdef double deadline = INFINITY
        cdef bint reading = False, block = False
        cdef Py_ssize_t size
        while self._end - self._start < n:
            if not reading:
                deadline = _deadline(timeout)
                block = self._arm(timeout)
                reading = True
            elif _now() >= deadline:
                raise TransportTimeout.expired(timeout, self._peek())
            else:
                block = False
            size = min(max(_CHUNK, n - (self._end - self._start)), _MAX_READ)
            if not self._fill(deadline, size, block):
                raise TransportTimeout.expired(timeout, self._peek())
        return self._take(n)

    cdef int _drain(self, Py_ssize_t *count, Py_ssize_t preview, double deadline) except -1:
        """Discard the buffer and what the kernel holds now, without waiting.

        Adds to ``count``; returns how many of the kernel's bytes it read
        into the free space at the buffer's end (the first ``preview`` of
        them stay there for the caller to copy). Stops at EOF, when nothing
        more is there, or at ``deadline`` while data keeps coming.
        """
        cdef Py_ssize_t got, kept = 0
        count[0] += self._end - self._start
        self._consume(self._end - self._start)
        while True:
            self._reserve(_CHUNK + preview)
            got = self._read(self._buf + self._end + kept, _CHUNK, 0.0, False)
            if got <= 0:  # nothing more there (EXPIRED), or EOF (0)
                return kept
            count[0] += got
            if kept < preview:
                kept += min(got, preview - kept)
            if _now() >= deadline:
                return kept

    cdef tuple _clear(self, Py_ssize_t preview, double quiet, timeout):
        cdef Py_ssize_t count, kept, got
        cdef double deadline, until
        cdef bytes head
        if (
            quiet <= 0.0 and self._end == self._start and not self._stale
            and not self._input_waiting()
        ):
            return _NOTHING_CLEARED  # the usual case: no work, no allocation
        count = self._stale
        deadline = _deadline(timeout)
        head = self._stale_head
        self._stale = 0
        self._stale_head = b""
        if len(head) < preview:
            head += PyBytes_FromStringAndSize(
                self._buf + self._start, min(preview - len(head), self._end - self._start)
            )
        kept = self._drain(&count, preview - len(head), deadline)
        head += PyBytes_FromStringAndSize(self._buf + self._end, kept)
        while quiet > 0.0 and not self._broken:
            until = min(_now() + quiet, deadline)
            if until <= _now() or not self._wait(POLLIN, until):
                break  # silent for `quiet`, or out of time
            self._reserve(_CHUNK)
            got = self._read(self._buf + self._end, _CHUNK, 0.0, False)
            if got <= 0:
                break
            if len(head) < preview:
                head += PyBytes_FromStringAndSize(
                    self._buf + self._end, min(got, preview - len(head))
                )
            count += got
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
                if not self._fill(deadline, size, False):
                    raise TransportTimeout.expired(timeout, self._peek())
            return self._end - self._start
        except BaseException:
            self.owed = True
            raise
        finally:
            self._receiving = False

    def recv_quiet(self, double idle, timeout, Py_ssize_t max_size):
        """Everything that arrives until ``idle`` seconds pass without a byte."""
        cdef double deadline = _deadline(timeout)
        cdef double now, quiet
        self._claim()
        try:
            if self._end == self._start and not self._fill(deadline, _CHUNK, False):
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
                    if not self._fill(deadline, _CHUNK, False):
                        raise not_quiet(timeout, idle, self._peek())
                elif not self._fill(quiet, _CHUNK, False):
                    return self._take(self._end - self._start)
        except BaseException:
            self.owed = True
            raise
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
                if not self._fill(deadline, _CHUNK, False):
                    raise TransportTimeout.expired(timeout, self._peek())
            return header, length
        except BaseException:
            self.owed = True
            raise
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

cdef bytes _strip(bytes frame, tuple terms):
    """``frame`` without the terminator it ends in (terms: longest first)."""
    cdef bytes term
    if len(terms) == 1:
        return frame[: len(frame) - len(<bytes>terms[0])]
    for term in terms:
        if frame.endswith(term):
            return frame[: len(frame) - len(term)]
    return frame


@cython.final
cdef class Frames:
    """Iterator of frames over one transport; see ``Transport.frames``."""

    cdef Transport _io
    cdef tuple _terms
    cdef object _timeout
    cdef Py_ssize_t _max_size
    cdef object _on_error

    def __init__(self, Transport io, tuple terms, timeout, Py_ssize_t max_size, on_error):
        self._io = io
        self._terms = terms
        self._timeout = timeout
        self._max_size = max_size
        self._on_error = on_error

    def __iter__(self):
        return self

    def __next__(self):
        cdef Transport io = self._io
        frame = io._buffered_frame(self._terms, self._max_size)
        if frame is not None:
            return frame
        try:
            return io._receive(RECV_UNTIL, self._max_size, self._timeout, self._terms)
        except IncompleteRead as exc:
            if not exc.partial:
                raise StopIteration from None
            if self._on_error is None:
                raise
            raise self._on_error(exc) from None
        except OSError as exc:
            if self._on_error is None:
                raise
            raise self._on_error(exc) from None


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
