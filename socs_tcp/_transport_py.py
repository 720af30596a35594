"""Pure-Python transport: the fallback, and the reference semantics.

:class:`Transport` does buffered, deadline-driven I/O over one connected
``socket.socket``. The compiled ``socs_tcp._transport_c.Transport`` has the
same names, signatures, exceptions and edge behaviour; both satisfy
``socs_tcp._contract.Transport``, which carries the semantics (see the
contract). The rules, as this module keeps them:

* One deadline per call, computed once; every wait uses what is left of it.
  A call makes at least one attempt to read; after that it reads again only
  while its deadline has not passed, however fast data keeps coming.
* A receive reads first when data may already be waiting, and waits first
  right after a send (the reply cannot be there yet). Unlike the compiled
  transport it never blocks in a read: Python retries an interrupted read
  with the kernel's timeout restarted, which would break the one deadline.
* Bytes read past what a call returns stay buffered, in order, and are
  returned first by the next receive of any kind. Plain ``recv(bufsize)``
  asks the kernel for at most ``bufsize`` bytes; a buffered read asks for
  ``CHUNK_SIZE`` (``recv_exactly``: what the frame still lacks, if more), and
  never more than ``MAX_READ``.
* A frame read that fails keeps every byte it received, and its exception
  carries a copy in ``.partial``: on a timeout, at EOF, on a reset, and when a
  signal handler raises (the bytes of a completed kernel read are buffered
  before any handler can run).
* Kernel errors become :class:`~socs_tcp.errors.ConnectionLost` (with
  ``errno``); a socket closed behind the transport's back, or by
  :meth:`close` during a call, :class:`~socs_tcp.errors.NotConnected`. The
  descriptor is looked up on every call (never kept), so no call touches a
  descriptor number the process has since reused.
* Concurrent ``sendall`` calls are serialised: two messages never interleave.
  One thread may receive while another sends; a second concurrent receiver
  gets ``RuntimeError``.

Signal handling (EINTR) is CPython's own (PEP 475): handlers run, an exception
from one propagates, and the call resumes with the time that is left.
"""

from __future__ import annotations

import functools
import math
import operator
import os
import select
import socket
import threading
import time
from typing import Any, Callable, ClassVar, TypeVar, cast

from socs_tcp import _trace, errors
from socs_tcp._checks import check_terminators, is_immutable
from socs_tcp._contract import BROKEN, HELD, IDLE, OWED, SENT, STALE, TRACE
from socs_tcp._limits import CHUNK_SIZE, MAX_READ, PREVIEW
from socs_tcp._types import ReadableBuffer, Terminator

__all__ = ["CHUNK_SIZE", "Transport"]

_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0) | getattr(socket, "MSG_DONTWAIT", 0)

# The longest single poll(): a longer wait is made of several, and between
# them the socket is looked up again, so a wait whose descriptor number was
# closed and reused by another connection (a race no lookup can close)
# ends within a second instead of never.
_MAX_POLL_MS = 1000

# socket.send on a socket in timeout mode first waits by the socket's own
# timeout; when that is longer than what is left of ours (by more than this),
# wait by ours first.
_SLACK = 0.001

_F = TypeVar("_F", bound=Callable[..., Any])

_UNSET = object()  # no terminator remembered yet

# POLLRDHUP (Linux) reports a peer's FIN even when unread data is ahead of it.
_GONE = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)

_TRACE_SWITCH = _trace.SWITCH


def _deadline(timeout: float | None) -> float | None:
    """Absolute monotonic deadline for ``timeout`` seconds (None: never)."""
    return None if timeout is None else time.monotonic() + timeout


def _remaining_ms(deadline: float | None) -> int:
    """Milliseconds left until ``deadline`` for one poll(), at most
    ``_MAX_POLL_MS`` (also for no deadline).

    Rounded up, so a wait never ends just before the deadline and spins.
    """
    if deadline is None:
        return _MAX_POLL_MS
    return min(_MAX_POLL_MS, max(0, math.ceil((deadline - time.monotonic()) * 1000)))


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _octets(data: ReadableBuffer) -> memoryview:
    """``data``'s bytes as one flat view, as the C buffer protocol gives them.

    An empty buffer of any shape (``numpy.zeros((0, 3))``) is no bytes:
    ``memoryview.cast`` refuses zeros in a shape.
    """
    view = memoryview(data)
    return view.cast("B") if view.nbytes else memoryview(b"")


def _readv(fd: int, arg: tuple[memoryview, list[int]]) -> int:
    """One ``os.readv`` into ``arg[0]``, its count appended to ``arg[1]``.

    ``list.extend`` runs the ``map`` in C: the count is recorded before any
    signal handler can run. Returns the count (0 at EOF).
    """
    view, counts = arg
    counts.extend(map(os.readv, (fd,), ([view],)))
    return counts[-1]


def _find_frame_end(
    buf: bytearray, terminators: tuple[bytes, ...], scanned: int
) -> int:
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


def _claiming(settles: bool) -> Callable[[_F], _F]:
    """Decorate a receive: it runs as the only one in progress on its
    transport, and if it ``settles``, keeps ``owed`` too.

    The buffer has a single reader: a second thread receiving at the same
    time gets RuntimeError instead of a share of a frame. The claim is the
    receiving thread's id, set inside the ``try``, so a signal handler that
    raises at any point cannot leave it claimed by nobody (and a claim left
    by this same thread can only be stale: receives never nest). A read
    that fails sets ``owed`` (what it waited for may still come, and belongs
    to no caller); one that succeeds clears it.
    """

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def guarded(self: Transport, *args: Any) -> Any:
            me = threading.get_ident()
            if self._receiver not in (None, me):
                raise errors.second_receiver()
            try:
                self._receiver = me
                if self._into is not None:
                    self._fold()
                result = method(self, *args)
            except BaseException:
                if settles:
                    self.owed = True
                raise
            finally:
                self._receiver = None
            if settles:
                self.owed = False
            return result

        return cast(_F, guarded)

    return decorate


#: A receive that reads for its caller; see _claiming.
_reading = _claiming(True)
#: A receive that discards (clear) or runs inside an exchange.
_receiver = _claiming(False)


class Transport:
    """Buffered I/O with deadlines over one connected socket.

    Parameters
    ----------
    sock : socket.socket
        The connected socket. Its timeout mode may be anything; the transport
        applies its own deadlines.
    """

    #: Which transport this is, for reprs and reports.
    backend: ClassVar[str] = "python"

    __slots__ = (
        "_sock",
        "_buf",
        "_into",
        "_receiver",
        "_closed",
        "_broken",
        "_send_lock",
        "_last_send",
        "_awaiting_reply",
        "_stale",
        "owed",
        "holder",
        "_terms_key",
        "_terms",
        "_read_poller",
        "_write_poller",
    )

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        # Bytes an interrupted recv_exactly_into left in its caller's buffer,
        # logically after _buf's: (the view, counts of its reads); see _fold.
        self._into: tuple[memoryview, list[int]] | None = None
        self._receiver: int | None = None  # the thread receiving now
        self._closed = False
        self._broken = False
        self._send_lock = threading.Lock()
        self._last_send = -math.inf
        self._awaiting_reply = False
        # Discarded by an exchange that left it to the front; clear() reports it.
        self._stale: tuple[int, bytes] = (0, b"")
        #: True while a reply is owed: a query sent and did not get its reply.
        self.owed = False
        #: See the contract: the thread the front's policy holds this for.
        self.holder = 0
        # The last immutable terminator object recv_until was given, checked.
        self._terms_key: object = _UNSET
        self._terms: tuple[bytes, ...] = ()
        # One poller per direction, made once; each is used by one thread at
        # a time (one receiver; senders hold _send_lock).
        self._read_poller = select.poll()
        self._write_poller = select.poll()

    @property
    def pending(self) -> int:
        """Number of received bytes buffered and not yet returned."""
        into = self._into
        return len(self._buf) + (0 if into is None else sum(into[1]))

    @property
    def broken(self) -> bool:
        """True once a read met end of stream or a kernel error ended the connection."""
        return self._broken

    @property
    def last_send(self) -> float:
        """Monotonic time the last send completed; -inf before the first."""
        return self._last_send

    def close(self) -> None:
        """Refuse every call from now on; a call in progress raises NotConnected."""
        self._closed = True

    def _lost(
        self, exc: OSError, partial: ReadableBuffer = b""
    ) -> errors.TransportError:
        """What to raise for ``exc`` from a syscall: ours as they are, the
        kernel's as ConnectionLost with its errno (the connection is broken)."""
        if isinstance(exc, errors.TransportError):
            return exc
        self._broken = True
        return errors.ConnectionLost.from_errno(exc.errno or 0, partial)

    # -- the kernel ------------------------------------------------------

    def _fileno(self) -> int:
        fd = self._sock.fileno()
        if fd < 0 or self._closed:
            raise errors.NotConnected.closed()
        return fd

    def _wait(self, poller: Any, events: int, deadline: float | None) -> bool:
        """Whether the socket becomes ready for ``events`` before the deadline."""
        fd = self._fileno()
        poller.register(fd, events)
        try:
            while True:
                ready = poller.poll(_remaining_ms(deadline))
                self._fileno()  # closed while waiting?
                if ready:
                    return True
                if _expired(deadline):
                    return False
        except OSError as exc:
            partial = self._buf if events == select.POLLIN else b""
            raise self._lost(exc, partial) from None
        finally:
            poller.unregister(fd)

    def _read(
        self, deadline: float | None, read: Callable[[int, Any], Any], arg: Any
    ) -> Any:
        """``read(fd, arg)``, a non-blocking read, once data is there.

        Returns None when the deadline passes first. Python retries a read
        that a signal interrupted with the kernel's own timeout restarted, so
        here a read never blocks: it runs when data may be waiting, and
        ``poll`` (which PEP 475 resumes with the time left) waits for it.
        """
        sock = self._sock
        # A blocking descriptor (timeout None) must not be read before poll
        # says so, or the read could outlive the deadline (or close()).
        if (self._awaiting_reply or sock.gettimeout() is None) and not self._wait(
            self._read_poller, select.POLLIN, deadline
        ):
            return None
        self._awaiting_reply = False
        while True:
            try:
                result = read(self._fileno(), arg)
            except BlockingIOError:
                if not self._wait(self._read_poller, select.POLLIN, deadline):
                    return None
                continue
            except OSError as exc:
                raise self._lost(exc, self._buf) from None
            self._fileno()  # closed during the read: its bytes go with the connection
            if not result:
                self._broken = True  # end of stream (a read is never of 0 bytes)
            return result

    def _append(self, fd: int, size: int) -> int:
        """One ``os.read`` appended to the buffer before anything else runs.

        ``functools.reduce`` calls ``os.read`` and ``bytearray.__iadd__`` from
        C, with no bytecode in between, so no signal handler can run between
        the read and the append on any Python version: a handler that raises
        cannot drop the chunk. Returns the count (0 at EOF).
        """
        buf = self._buf
        before = len(buf)
        functools.reduce(operator.iconcat, map(os.read, (fd,), (size,)), buf)
        return len(buf) - before

    def _fill(self, deadline: float | None, size: int) -> bool:
        """Append one kernel read of at most ``size`` bytes to the buffer.

        False when the deadline passed first; IncompleteRead at EOF.
        """
        count = self._read(deadline, self._append, size)
        if count is None:
            return False
        if not count:
            raise errors.IncompleteRead.at_eof(self._buf)
        return True

    # -- sending ---------------------------------------------------------

    def _check(self, idle_check: float | None) -> int:
        """Why not to send now (a status), or SENT: see the contract."""
        if self.holder and self.holder != threading.get_ident():
            return HELD
        if idle_check is None:
            return SENT
        if self._broken or self._closed or self._sock.fileno() < 0:
            return BROKEN
        if _TRACE_SWITCH[0]:
            return TRACE
        if self.owed:
            return OWED
        if time.monotonic() - self._last_send >= idle_check:
            # Zero-wait: has the peer closed or reset the idle connection?
            poller = self._write_poller
            fd = self._sock.fileno()
            poller.register(fd, select.POLLIN | _GONE)
            try:
                ready = poller.poll(0)
            finally:
                poller.unregister(fd)
            if ready and ready[0][1] & _GONE:
                return IDLE
        return SENT

    def sendall(
        self,
        data: ReadableBuffer,
        timeout: float | None,
        idle_check: float | None = None,
    ) -> int:
        """Send every byte of ``data``; or a status saying why not (see the contract).

        Raises
        ------
        TransportTimeout
            The deadline passed with bytes still unsent.
        ConnectionLost
            The kernel refused (a reset, a broken pipe).
        """
        view = _octets(data)
        with self._send_lock:
            status = self._check(idle_check)
            if status == SENT:
                self._send(view, timeout)
            return status

    def _send(self, view: memoryview, timeout: float | None) -> None:
        """Send every byte of ``view``; the caller holds the send lock."""
        total = len(view)
        deadline = _deadline(timeout)
        sock = self._sock
        while True:
            limit = sock.gettimeout()
            if (
                limit is not None
                and deadline is not None
                and limit - (deadline - time.monotonic()) > _SLACK
                and not self._wait(self._write_poller, select.POLLOUT, deadline)
            ):
                break
            self._fileno()
            try:
                sent = sock.send(view, _SEND_FLAGS)
            except (BlockingIOError, socket.timeout):
                sent = 0
            except OSError as exc:
                self._fileno()  # closed during the send?
                raise self._lost(exc) from None
            if sent == len(view):
                self._last_send = time.monotonic()
                self._awaiting_reply = True
                return
            view = view[sent:]
            if not self._wait(self._write_poller, select.POLLOUT, deadline):
                break
        raise errors.TransportTimeout.unsent(timeout, total - len(view), total)

    # -- receiving -------------------------------------------------------

    @_reading
    def recv(self, bufsize: int, timeout: float | None) -> bytes:
        """Return up to ``bufsize`` bytes: buffered ones first, else one read.

        Never asks the kernel for more than ``bufsize`` bytes. Returns ``b""``
        when the peer has closed the connection.

        Raises
        ------
        TransportTimeout
            Nothing arrived before the deadline.
        """
        buf = self._buf
        if buf:
            data = bytes(buf[:bufsize])
            del buf[:bufsize]
            return data
        data = self._read(_deadline(timeout), os.read, bufsize)
        if data is None:
            raise errors.TransportTimeout.expired(timeout)
        return cast(bytes, data)

    @_reading
    def recv_into(self, buffer: memoryview, nbytes: int, timeout: float | None) -> int:
        """Receive up to ``nbytes`` bytes into ``buffer``; return the count.

        ``buffer`` is a writable, C-contiguous buffer already cast to bytes
        (``memoryview(...).cast("B")``); ``nbytes`` is at most its length.
        Returns 0 when the peer has closed the connection.
        """
        buf = self._buf
        if buf:
            n = min(nbytes, len(buf))
            buffer[:n] = buf[:n]
            del buf[:n]
            return n
        count = self._read(_deadline(timeout), os.readv, [buffer[:nbytes]])
        if count is None:
            raise errors.TransportTimeout.expired(timeout)
        return cast(int, count)

    @_reading
    def recv_exactly_into(
        self, buffer: memoryview, nbytes: int, timeout: float | None
    ) -> int:
        """Fill ``buffer[:nbytes]``, buffered bytes first; return ``nbytes``.

        The kernel's bytes go straight into ``buffer``; the buffered ones
        leave the transport only when the call ends. Each read's count is
        recorded by the read itself (see :func:`_readv`), so a signal handler
        that raises mid-call cannot lose a byte: what the call had received
        goes back to the buffer (:meth:`_fold`), for the retry.

        Raises
        ------
        TransportTimeout, IncompleteRead, ConnectionLost
            The bytes received are in ``buffer``; ``.partial`` is a copy.
        """
        buf = self._buf
        head = min(nbytes, len(buf))
        buffer[:head] = buf[:head]
        if head == nbytes:
            del buf[:head]
            return nbytes
        # head < nbytes: every buffered byte is in ``buffer`` (and still in
        # ``buf``); what the kernel gives lands in ``rest``.
        counts: list[int] = []
        rest = buffer[head:nbytes]
        self._into = (rest, counts)
        want = nbytes - head
        deadline = _deadline(timeout)
        try:
            done = 0
            while True:
                count = self._read(deadline, _readv, (rest[done:], counts))
                if count is None:
                    raise errors.TransportTimeout.expired(
                        timeout, buffer[: head + done]
                    )
                if not count:
                    raise errors.IncompleteRead.at_eof(buffer[: head + done])
                done += count
                if done == want:
                    break
                if _expired(deadline):  # checked after every kernel read
                    raise errors.TransportTimeout.expired(
                        timeout, buffer[: head + done]
                    )
        except errors.TransportError as exc:
            exc.partial = bytes(buffer[: head + sum(counts)])
            # The bytes are the caller's now. No call between these two: no
            # handler can run between them.
            self._into = None
            del buf[:head]
            rest.release()
            raise
        except BaseException:
            self._fold()  # a handler raised: all of it back to the buffer
            rest.release()
            raise
        self._into = None
        del buf[:head]
        return nbytes  # ``rest`` is released as the call returns

    def _fold(self) -> None:
        """Move bytes an interrupted recv_exactly_into received back to the buffer.

        If a handler interrupts this too, nothing has changed and the next
        receive folds them instead: the append and the reset of ``_into``
        have no call between them.
        """
        into = self._into
        if into is None:
            return
        view, counts = into
        data = bytes(view[: sum(counts)])
        buf = self._buf
        buf += data
        self._into = None

    def _terminators(self, terminator: Terminator) -> tuple[bytes, ...]:
        """``terminator`` checked; the last immutable one is remembered."""
        if terminator is self._terms_key:
            return self._terms
        terms = check_terminators(terminator)
        if is_immutable(terminator):
            self._terms_key, self._terms = terminator, terms
        return terms

    @_reading
    def recv_until(
        self, terminator: Terminator, timeout: float | None, max_size: int
    ) -> bytes:
        """Return the next frame, up to and including its terminator.

        Parameters
        ----------
        terminator : bytes or tuple of bytes
            What ends the frame; of several, the match that completes first
            wins. Checked here (``check_terminators``), once per object.
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
        return self._frame(self._terminators(terminator), timeout, max_size)

    def _frame(
        self, terminators: tuple[bytes, ...], timeout: float | None, max_size: int
    ) -> bytes:
        """recv_until's loop; the caller holds the receiver's claim."""
        buf = self._buf
        scanned = 0
        deadline = None
        reading = False
        while True:
            end = _find_frame_end(buf, terminators, scanned)
            if end >= 0 or len(buf) >= max_size:
                break
            scanned = len(buf)
            if not reading:
                deadline = _deadline(timeout)
                reading = True
            elif _expired(deadline):
                raise errors.TransportTimeout.expired(timeout, buf)
            if not self._fill(deadline, CHUNK_SIZE):
                raise errors.TransportTimeout.expired(timeout, buf)
        if end < 0 or end > max_size:
            raise errors.FrameTooLong.beyond(max_size, terminators, buf)
        frame = bytes(buf[:end])
        del buf[:end]
        return frame

    #: recv_until with its terminators checked already (Frames, exchange).
    _recv_until = _reading(_frame)

    def frames(
        self,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None = None,
    ) -> Frames:
        """An iterator of frames, as recv_until returns them, to end of stream."""
        return Frames(self, self._terminators(terminator), timeout, max_size, on_error)

    @_reading
    def recv_exactly(self, n: int, timeout: float | None) -> bytes:
        """Return exactly ``n`` bytes.

        Raises
        ------
        TransportTimeout, IncompleteRead
            As for :meth:`recv_until`; the bytes stay buffered.
        """
        self._gather(n, timeout)
        buf = self._buf
        frame = bytes(buf[:n])
        del buf[:n]
        return frame

    def _gather(self, n: int, timeout: float | None) -> None:
        """Read until at least ``n`` bytes are buffered (recv_exactly, fill).

        Raises TransportTimeout or IncompleteRead (the bytes stay buffered).
        """
        buf = self._buf
        deadline = None
        reading = False
        while len(buf) < n:
            if not reading:
                deadline = _deadline(timeout)
                reading = True
            elif _expired(deadline):
                raise errors.TransportTimeout.expired(timeout, buf)
            size = min(max(CHUNK_SIZE, n - len(buf)), MAX_READ)
            if not self._fill(deadline, size):
                raise errors.TransportTimeout.expired(timeout, buf)

    @_receiver
    def clear(
        self, preview: int, quiet: float, timeout: float | None
    ) -> tuple[int, bytes]:
        """Discard the buffer and the input; (count, first ``preview`` bytes)."""
        return self._clear(preview, quiet, timeout)

    def _clear(
        self, preview: int, quiet: float, timeout: float | None
    ) -> tuple[int, bytes]:
        """clear()'s loop; the caller holds the receiver's claim."""
        count, head = self._stale
        self._stale = (0, b"")
        head += self._buf[: max(0, preview - len(head))]
        count += len(self._buf)
        self._buf.clear()
        deadline = _deadline(timeout)
        wait = 0.0  # first what is there now, then (quiet) what comes
        while True:
            until = time.monotonic() + wait
            if deadline is not None and until > deadline:
                until = deadline
            # Always poll first: a blocking descriptor must not be read
            # unless poll says there is something.
            if not self._wait(self._read_poller, select.POLLIN, until):
                if wait or not quiet:
                    break
                wait = quiet
                continue
            try:
                chunk = os.read(self._fileno(), CHUNK_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise self._lost(exc) from None
            if not chunk:
                self._broken = True
                break
            if len(head) < preview:
                head += chunk[: preview - len(head)]
            count += len(chunk)
            if _expired(deadline):
                break
        return count, bytes(head)

    def exchange(
        self,
        data: ReadableBuffer,
        terminator: Terminator,
        timeout: float | None,
        max_size: int,
        clear: bool,
        idle_check: float | None,
    ) -> bytes | int:
        """Drop stale input, send ``data``, return the reply (see the contract)."""
        terms = self._terminators(terminator)
        view = _octets(data)
        with self._send_lock:
            # First: a thread the policy holds the transport for may be
            # receiving, and this call then waits for it in the front.
            status = self._check(idle_check)
            if status != SENT:
                return status
            return self._exchange(view, terms, timeout, max_size, clear)

    @_receiver
    def _exchange(
        self,
        view: memoryview,
        terms: tuple[bytes, ...],
        timeout: float | None,
        max_size: int,
        clear: bool,
    ) -> bytes | int:
        if clear:
            self._stale = self._clear(PREVIEW, 0.0, timeout)
            if self._stale[0]:
                return STALE  # the front logs it (its clear reports it)
        self._send(view, timeout)
        self.owed = True
        frame = self._frame(terms, timeout, max_size)
        self.owed = False
        # The frame ends in one of terms; they are sorted longest first.
        for term in terms:
            if frame.endswith(term):
                return frame[: -len(term)]
        return frame  # pragma: no cover (a frame ends in a terminator)

    # -- instrument protocols (see _contract: peek, fill, recv_quiet,
    # -- recv_block_header) --------------------------------------------------

    def peek(self, offset: int, n: int) -> bytes:
        """A copy of buffered bytes ``offset`` to ``offset + n``; no I/O."""
        if offset < 0 or n < 0:
            raise ValueError(f"offset and n must be >= 0, not {offset}, {n}")
        if self._into is not None:
            self._fold()
        return bytes(self._buf[offset : offset + n])

    @_reading
    def fill(self, n: int, timeout: float | None) -> int:
        """Read until at least ``n`` bytes are buffered; return how many are."""
        self._gather(n, timeout)
        return len(self._buf)

    @_reading
    def recv_quiet(self, idle: float, timeout: float | None, max_size: int) -> bytes:
        """Everything that arrives until ``idle`` seconds pass without a byte."""
        buf = self._buf
        deadline = _deadline(timeout)
        if not buf and not self._fill(deadline, CHUNK_SIZE):
            raise errors.TransportTimeout.expired(timeout)
        while True:
            if len(buf) >= max_size:
                raise errors.no_pause(max_size, idle, buf)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise errors.not_quiet(timeout, idle, buf)
            quiet = now + idle
            if deadline is not None and quiet >= deadline:
                # Silence until the deadline would still be too short.
                if not self._fill(deadline, CHUNK_SIZE):
                    raise errors.not_quiet(timeout, idle, buf)
            elif not self._fill(quiet, CHUNK_SIZE):
                data = bytes(buf)
                buf.clear()
                return data

    @_reading
    def recv_block_header(self, timeout: float | None) -> tuple[int, int]:
        """Wait for an IEEE 488.2 block header; ``(header size, data size)``."""
        buf = self._buf
        deadline = None
        reading = False
        while True:
            size = _block_header(buf)
            if size is not None:
                return size
            if not reading:
                deadline = _deadline(timeout)
                reading = True
            elif _expired(deadline):
                raise errors.TransportTimeout.expired(timeout, buf)
            if not self._fill(deadline, CHUNK_SIZE):
                raise errors.TransportTimeout.expired(timeout, buf)


_DIGITS = b"0123456789"


def _block_header(buf: bytearray) -> tuple[int, int] | None:
    """``(header size, data size)`` of the block ``buf`` starts; -1 for ``#0``.

    None while the header is incomplete; ProtocolError as soon as a byte
    cannot belong to one.
    """
    head = bytes(buf[:11])  # b"#9" and nine digits at most
    if head[:1] not in (b"", b"#") or (len(head) > 1 and head[1] not in _DIGITS):
        raise errors.ProtocolError.block_header(buf)
    if len(head) < 2:
        return None
    size = 2 + head[1] - 48
    digits = head[2:size]
    if digits.strip(_DIGITS):
        raise errors.ProtocolError.block_header(buf)
    if len(head) < size:
        return None
    return size, int(digits) if digits else -1


class Frames:
    """Iterator of frames over one transport; see ``Transport.frames``."""

    __slots__ = ("_io", "_terms", "_timeout", "_max_size", "_on_error")

    def __init__(
        self,
        io: Transport,
        terms: tuple[bytes, ...],
        timeout: float | None,
        max_size: int,
        on_error: Callable[[OSError], BaseException] | None,
    ) -> None:
        self._io = io
        self._terms = terms
        self._timeout = timeout
        self._max_size = max_size
        self._on_error = on_error

    def __iter__(self) -> Frames:
        return self

    def __next__(self) -> bytes:
        try:
            return self._io._recv_until(self._terms, self._timeout, self._max_size)
        except errors.IncompleteRead as exc:
            if not exc.partial:
                raise StopIteration from None
            if self._on_error is None:
                raise
            raise self._on_error(exc) from None
        except OSError as exc:
            if self._on_error is None:
                raise
            raise self._on_error(exc) from None
