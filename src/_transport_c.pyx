# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled transport: buffered, deadline-driven I/O over POSIX sockets.

Same contract as ``socs_tcp._transport_py`` (read that module for the
semantics). Here every blocking syscall runs with the GIL released, sends and
receives use ``MSG_DONTWAIT`` so the socket's own timeout mode does not
matter, and the receive buffer is plain C memory.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.weakref cimport PyWeakref_GET_OBJECT
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EAGAIN, EINTR, errno
from libc.math cimport INFINITY, ceil
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memmove
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

import os
import weakref

from socs_tcp.errors import (
    FrameTooLong,
    IncompleteRead,
    TransportTimeout,
    second_receiver,
    socket_closed,
)

#: How much a buffered read asks the kernel for at once.
CHUNK_SIZE = 65536
cdef Py_ssize_t _CHUNK = CHUNK_SIZE
# An emptied buffer larger than this is freed, so one big frame does not
# pin its memory for the life of the connection.
cdef Py_ssize_t _KEEP = 4 * CHUNK_SIZE


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
    """Milliseconds left for poll(), rounded up; -1 waits forever."""
    cdef double left
    if deadline == INFINITY:
        return -1
    left = ceil((deadline - _now()) * 1000.0)
    if left <= 0:
        return 0
    if left > 2147483647.0:
        return -1
    return <int>left


cdef inline Py_ssize_t _recv_now(int fd, char *dest, Py_ssize_t n, int *err) noexcept nogil:
    """One non-blocking recv(); errno saved at once into ``err``.

    Callers test EAGAIN only: EWOULDBLOCK equals it on Linux and the BSDs,
    and testing both makes the C compiler reject a duplicate switch case.
    """
    cdef Py_ssize_t got = recv(fd, dest, <size_t>n, MSG_DONTWAIT)
    err[0] = errno
    return got


cdef object _os_error(int err):
    # OSError(errno, ...) picks the subclass (ConnectionResetError, ...).
    return OSError(err, os.strerror(err))


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
    cdef char *_buf
    cdef Py_ssize_t _start, _end, _cap
    cdef bint _awaiting_reply
    cdef bint _receiving
    # TCPInterface.recv and recv_until shortcuts, made on first use.
    cdef object _recv_shortcut
    cdef object _recv_until_shortcut
    cdef object __weakref__

    def __cinit__(self, sock):
        self._sock = sock
        self._buf = NULL
        self._start = self._end = self._cap = 0
        self._awaiting_reply = False
        self._receiving = False

    def __dealloc__(self):
        free(self._buf)

    @property
    def pending(self):
        """Number of received bytes buffered and not yet returned."""
        return self._end - self._start

    # -- buffer ----------------------------------------------------------

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

    # -- waiting ---------------------------------------------------------

    cdef int _fileno(self) except -1:
        cdef int fd = self._sock.fileno()
        if fd < 0:
            raise socket_closed()
        return fd

    cdef int _interrupted(self) except -1:
        """After EINTR: run Python's signal handlers (they may raise)."""
        PyErr_CheckSignals()
        return 0

    cdef int _wait(self, int fd, short events, double deadline) except -1:
        """Block until ``fd`` is ready for ``events`` or the deadline passes."""
        cdef pollfd p
        cdef int rc, err, ms
        p.fd = fd
        p.events = events
        while True:
            ms = _remaining_ms(deadline)
            with nogil:
                rc = poll(&p, 1, ms)
                err = errno
            if rc > 0:
                return 0
            if rc == 0:
                raise TransportTimeout.expired(b"" if events == POLLOUT else self._peek())
            if err != EINTR:
                raise _os_error(err)
            self._interrupted()
            p.fd = self._fileno()

    cdef bytes _peek(self):
        return PyBytes_FromStringAndSize(self._buf + self._start, self._end - self._start)

    cdef Py_ssize_t _read_kernel(self, char *dest, Py_ssize_t n, double deadline) except -1:
        """One recv() of at most ``n`` bytes into ``dest`` once data is there.

        Returns 0 at EOF. Right after a send, waits first: the reply cannot
        be there yet, and this saves the failed read.
        """
        cdef int fd = self._fileno()
        cdef Py_ssize_t got
        cdef int err
        if self._awaiting_reply:
            self._wait(fd, POLLIN, deadline)
        self._awaiting_reply = False
        while True:
            with nogil:
                got = _recv_now(fd, dest, n, &err)
            if got >= 0:
                return got
            if err == EAGAIN:
                self._wait(fd, POLLIN, deadline)
            elif err == EINTR:
                self._interrupted()
            else:
                raise _os_error(err)
            fd = self._fileno()

    cdef Py_ssize_t _read_ready(self, char *dest, Py_ssize_t n) except -1:
        """One recv() that never waits: the count, or -2 if nothing is there."""
        cdef int fd = self._fileno()
        cdef Py_ssize_t got
        cdef int err
        with nogil:
            got = _recv_now(fd, dest, n, &err)
        if got >= 0:
            return got
        if err == EINTR:
            self._interrupted()
        elif err != EAGAIN:
            raise _os_error(err)
        return -2

    cdef int _fill(self, double deadline) except -1:
        """Append one kernel read to the buffer; IncompleteRead at EOF."""
        cdef Py_ssize_t got
        self._reserve(_CHUNK)
        got = self._read_kernel(self._buf + self._end, self._cap - self._end, deadline)
        if got == 0:
            raise IncompleteRead.at_eof(self._peek())
        self._end += got
        return 0

    # -- sending ---------------------------------------------------------

    def sendall(self, data, timeout):
        """Send every byte of ``data`` before ``timeout`` seconds pass."""
        cdef Py_buffer view
        cdef const char *p
        cdef Py_ssize_t left, sent
        cdef int fd, err
        cdef double deadline = _deadline(timeout)
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            p = <const char *>view.buf
            left = view.len
            fd = self._fileno()
            while True:
                with nogil:
                    sent = send(fd, p, <size_t>left, MSG_NOSIGNAL | MSG_DONTWAIT)
                    err = errno
                if sent >= 0:
                    p += sent
                    left -= sent
                    if left == 0:
                        break
                    self._wait(fd, POLLOUT, deadline)
                elif err == EAGAIN:
                    self._wait(fd, POLLOUT, deadline)
                elif err == EINTR:
                    self._interrupted()
                else:
                    raise _os_error(err)
                fd = self._fileno()
        finally:
            PyBuffer_Release(&view)
        self._awaiting_reply = True

    # -- receiving -------------------------------------------------------
    #
    # Each public method claims the buffer for its whole call: a second
    # thread receiving at the same time could otherwise move or reallocate
    # the buffer under a recv() running without the GIL.

    cdef int _claim(self) except -1:
        if self._receiving:
            raise second_receiver()
        self._receiving = True
        return 0

    def discard(self):
        """Empty the receive buffer; return what it held."""
        self._claim()
        try:
            return self._take(self._end - self._start)
        finally:
            self._receiving = False

    def recv(self, Py_ssize_t bufsize, timeout):
        """Return up to ``bufsize`` bytes: buffered ones first, else one read."""
        self._claim()
        try:
            return self._recv(bufsize, timeout, True)
        finally:
            self._receiving = False

    def recv_into(self, buffer, Py_ssize_t nbytes, timeout):
        """Receive up to ``nbytes`` bytes into ``buffer``; return the count."""
        cdef Py_buffer view
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        self._claim()
        try:
            if not 0 <= nbytes <= view.len:
                raise ValueError(f"nbytes={nbytes} does not fit a {view.len}-byte buffer")
            return self._recv_into(<char *>view.buf, nbytes, timeout)
        finally:
            self._receiving = False
            PyBuffer_Release(&view)

    def recv_until(self, tuple terminators, timeout, Py_ssize_t max_size):
        """Return the next frame, up to and including its terminator."""
        self._claim()
        try:
            return self._recv_until(terminators, timeout, max_size)
        finally:
            self._receiving = False

    def recv_exactly(self, Py_ssize_t n, timeout):
        """Return exactly ``n`` bytes."""
        self._claim()
        try:
            return self._recv_exactly(n, timeout)
        finally:
            self._receiving = False

    def drain(self):
        """Return and forget everything buffered or already in the kernel."""
        cdef Py_ssize_t got
        self._claim()
        try:
            while True:
                self._reserve(_CHUNK)
                got = self._read_ready(self._buf + self._end, self._cap - self._end)
                if got <= 0:  # nothing more there (-2), or EOF (0)
                    break
                self._end += got
            return self._take(self._end - self._start)
        finally:
            self._receiving = False

    cdef object _recv(self, Py_ssize_t bufsize, timeout, bint wait):
        """Buffered bytes first, else one kernel read into a new bytes object.

        Without ``wait``, returns None where it would have to wait.
        """
        cdef PyObject *raw
        cdef Py_ssize_t got
        if self._end > self._start:
            return self._take(min(bufsize, self._end - self._start))
        # Read straight into the bytes object and trim it after: no copy, as
        # socket.recv does.
        raw = _new_bytes(NULL, bufsize)
        try:
            if wait:
                got = self._read_kernel(_bytes_data(raw), bufsize, _deadline(timeout))
            else:
                got = self._read_ready(_bytes_data(raw), bufsize)
        except BaseException:
            _decref(raw)
            raise
        if got < 0:
            _decref(raw)
            return None
        if got != bufsize:
            _resize_bytes(&raw, got)  # on failure it frees raw and raises
        out = <object>raw  # takes a reference; give back the one we held
        _decref(raw)
        return out

    cdef Py_ssize_t _recv_into(self, char *dest, Py_ssize_t nbytes, timeout) except -1:
        cdef Py_ssize_t n
        if self._end > self._start:
            n = min(nbytes, self._end - self._start)
            memcpy(dest, self._buf + self._start, n)
            self._consume(n)
            return n
        return self._read_kernel(dest, nbytes, _deadline(timeout))

    cdef Py_ssize_t _frame_end(self, tuple terminators, Py_ssize_t scanned):
        """Offset just past the earliest complete terminator, or -1."""
        cdef Py_ssize_t best = -1, tlen, end, start
        cdef const char *hay = self._buf + self._start
        cdef Py_ssize_t hlen = self._end - self._start
        cdef const char *hit
        cdef bytes term
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
        cdef bint timed = False
        while True:
            end = self._frame_end(terminators, scanned)
            if end < 0 and self._end - self._start < max_size:
                scanned = self._end - self._start
                if not timed:
                    deadline = _deadline(timeout)
                    timed = True
                self._fill(deadline)
                continue
            if end < 0 or end > max_size:
                raise FrameTooLong.beyond(max_size, terminators, self._peek())
            return self._take(end)

    cdef bytes _recv_exactly(self, Py_ssize_t n, timeout):
        cdef double deadline
        if self._end - self._start < n:
            deadline = _deadline(timeout)
            self._reserve(n - (self._end - self._start))
            while self._end - self._start < n:
                self._fill(deadline)
        return self._take(n)



cdef bint _immutable(object terminator):
    """Whether a terminator can be cached by identity (no bytearrays)."""
    if type(terminator) is bytes:
        return True
    if type(terminator) is tuple:
        return all(type(t) is bytes for t in terminator)
    return False


# -- shortcuts for TCPInterface ------------------------------------------------
#
# A Python method costs more per call than reading a buffered line takes, so
# on this transport TCPInterface.recv and recv_until go through the
# shortcuts below. Each serves only the case that has no policy in it (the
# bytes are already there) and hands everything else to the Python method,
# which stays the one implementation of validation, waiting, logging and
# resets. References to the interface and transport are weak: no cycles, so
# a dropped interface is freed, and its socket closed, at once.

cdef object _DEFAULT = object()  # "argument not given"


cdef inline object _deref(object ref):
    """The referent of weakref ``ref`` (None once it is gone), without a call."""
    return <object>PyWeakref_GET_OBJECT(ref)


cdef class _Shortcut:
    cdef object _owner   # weakref to the interface
    cdef object _io      # weakref to its transport
    cdef object _method  # the Python method it stands in for

    @property
    def __wrapped__(self):
        return self._method

    @property
    def __doc__(self):
        return self._method.__doc__

    def __repr__(self):
        return f"<{self._method.__name__} of {_deref(self._owner)!r}>"


cdef class RecvShortcut(_Shortcut):
    """``TCPInterface.recv``: bytes already there are returned from C."""

    cdef object _bufsize  # the method's default bufsize

    def __call__(self, bufsize=_DEFAULT, reset_on_error=False):
        cdef Transport io = <Transport>_deref(self._io)
        owner = _deref(self._owner)
        if bufsize is _DEFAULT:
            bufsize = self._bufsize
        if (
            io is not None
            and type(bufsize) is int
            and bufsize > 0
            and not io._receiving
            and not io._awaiting_reply
        ):
            io._receiving = True
            try:
                data = io._recv(bufsize, None, False)
            except OSError as exc:
                owner._fail(exc, "recv", reset_on_error)
            finally:
                io._receiving = False
            if data is not None:
                return data
            io._awaiting_reply = True  # nothing there yet: the method waits first
        return self._method(owner, bufsize, reset_on_error)


cdef class RecvUntilShortcut(_Shortcut):
    """``TCPInterface.recv_until``: a whole buffered frame is returned from C."""

    cdef object _terms_for  # the terminator object that _terms was made from
    cdef tuple _terms
    cdef object _max_size   # the method's default max_size

    def __call__(
        self, terminator=None, *, timeout=None, max_size=None, reset_on_error=False
    ):
        cdef Transport io = <Transport>_deref(self._io)
        cdef Py_ssize_t end
        if timeout is None and io is not None and io._end > io._start:
            if not io._receiving:
                if terminator is None:
                    key = _deref(self._owner).read_terminator
                else:
                    key = terminator
                if key is not self._terms_for and _immutable(key):
                    # Checked once per terminator object, as the method does.
                    self._terms = _deref(self._owner)._terminators(key)
                    self._terms_for = key
                if key is self._terms_for:
                    end = io._frame_end(self._terms, 0)
                    if 0 < end <= (self._max_size if max_size is None else max_size):
                        return io._take(end)
        return self._method(
            _deref(self._owner),
            terminator,
            timeout=timeout,
            max_size=max_size,
            reset_on_error=reset_on_error,
        )


cdef class FastPath:
    """Descriptor standing in for a ``TCPInterface`` method.

    On an interface whose transport is this compiled one, attribute access
    returns that transport's shortcut for the method; otherwise (and on the
    class) the plain Python method. A subclass override or a
    ``mock.patch.object`` of the class attribute replaces this descriptor,
    so both keep working as with any method.
    """

    cdef object _method
    cdef object _kind  # the shortcut class

    def __init__(self, method, kind):
        self._method = method
        self._kind = kind

    @property
    def __wrapped__(self):
        return self._method

    def __get__(self, obj, objtype):
        cdef Transport transport
        cdef _Shortcut shortcut
        if obj is None:
            return self._method
        io = getattr(obj, "_io", None)
        if type(io) is not Transport:
            return self._method.__get__(obj, objtype)
        transport = <Transport>io
        if self._kind is RecvShortcut:
            shortcut = transport._recv_shortcut
        else:
            shortcut = transport._recv_until_shortcut
        if shortcut is None:
            shortcut = self._shortcut_for(obj, transport)
        return shortcut

    cdef _Shortcut _shortcut_for(self, obj, Transport transport):
        cdef _Shortcut shortcut = self._kind.__new__(self._kind)
        shortcut._owner = weakref.ref(obj)
        shortcut._io = weakref.ref(transport)
        shortcut._method = self._method
        if self._kind is RecvShortcut:
            (<RecvShortcut>shortcut)._bufsize = self._method.__defaults__[0]
            transport._recv_shortcut = shortcut
        else:
            (<RecvUntilShortcut>shortcut)._max_size = (
                self._method.__kwdefaults__["max_size"]
            )
            transport._recv_until_shortcut = shortcut
        return shortcut


def accelerate(cls):
    """Put the shortcuts in front of ``cls.recv`` and ``cls.recv_until``."""
    cls.recv = FastPath(cls.__dict__["recv"], RecvShortcut)
    cls.recv_until = FastPath(cls.__dict__["recv_until"], RecvUntilShortcut)
