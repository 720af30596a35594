"""Argument checks for ``TCPInterface``.

Each returns the normalised value or raises ``TypeError``/``ValueError``
naming the argument and saying what to pass instead. None raises
``OverflowError``: sizes beyond what the machine can address are refused or
clamped here, before a transport sees them.
"""

from __future__ import annotations

import math
import numbers
import socket
import sys
from typing import Any

from socs_tcp._limits import DEFAULT_MAX_SIZE, MAX_READ, MAX_TIMEOUT
from socs_tcp._types import Terminator


def _integer(value: Any, name: str) -> int:
    """``value`` as an int; bool and float are refused (as socket.recv does)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(
            f"{name} must be an integer, not {type(value).__name__} {value!r}"
        )
    return int(value.__index__())


def check_port(port: Any) -> int:
    """An int (or a decimal string, as socs accepts) from 1 to 65535."""
    try:
        value = int(port, 10) if isinstance(port, str) else port.__index__()
    except (AttributeError, TypeError, ValueError):
        value = None
    if value is None or isinstance(port, bool) or not 1 <= value <= 65535:
        raise ValueError(f"port must be an integer from 1 to 65535, not {port!r}")
    return int(value)


def check_timeout(
    timeout: Any, name: str = "timeout", forever: bool = True
) -> float | None:
    """Seconds >= 0, or None (wait forever); ``inf`` and over MAX_TIMEOUT are None.

    ``forever``: whether the messages offer None (False for durations that
    must be finite, see :func:`check_seconds`).
    """
    if timeout is None:
        return None
    none = " or None" if forever else ""
    if type(timeout) is not float and type(timeout) is not int:
        # Any real number (numpy.float32, Fraction, ...), as socket.settimeout
        # takes; bool is refused, as a likely mistake.
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
            raise TypeError(
                f"{name} must be a number of seconds{none}, not {timeout!r}"
            )
        timeout = float(timeout)
    if not timeout >= 0:  # also catches NaN
        raise ValueError(
            f"{name} must be >= 0 seconds"
            + (" (or None to wait forever)" if forever else "")
            + f", not {timeout!r}"
        )
    return None if timeout > MAX_TIMEOUT or math.isinf(timeout) else float(timeout)


def check_seconds(seconds: Any, name: str) -> float:
    """A finite number of seconds >= 0 (``clear``'s quiet, the pacing options)."""
    value = check_timeout(seconds, name, forever=False)
    if value is None:
        raise ValueError(f"{name} must be a finite number of seconds, not {seconds!r}")
    return value


def check_bufsize(bufsize: Any) -> int:
    """``recv``'s bufsize: an int >= 0, clamped to MAX_READ."""
    value = _integer(bufsize, "bufsize")
    if value < 0:
        raise ValueError(f"bufsize must be >= 0, not {bufsize!r}")
    return min(value, MAX_READ)


def check_max_size(max_size: Any) -> int:
    """``recv_until``'s max_size: an int >= 1 (None: the default).

    Values beyond what memory can address mean "no limit" and are clamped.
    """
    if max_size is None:
        return DEFAULT_MAX_SIZE
    value = _integer(max_size, "max_size")
    if value < 1:
        raise ValueError(f"max_size must be >= 1, not {max_size!r}")
    return min(value, sys.maxsize)


def check_count(n: Any) -> int:
    """``recv_exactly``'s n: an int from 0 to what memory can address."""
    value = _integer(n, "n")
    if not 0 <= value <= sys.maxsize:
        raise ValueError(
            f"n must be from 0 to {sys.maxsize} (sys.maxsize) bytes, not {n!r}"
        )
    return value


def check_keepalive(keepalive: Any) -> tuple[int, int, int] | None:
    """None, or ``(idle, interval, count)`` that this kernel accepts."""
    if keepalive is None:
        return None
    try:
        idle, interval, count = (
            -1 if isinstance(v, bool) else _integer(v, "keepalive") for v in keepalive
        )
        valid = min(idle, interval, count) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "keepalive must be None or (idle, interval, count): whole seconds "
            f"before the first probe, seconds between probes, probes before "
            f"giving up, each >= 1; not {keepalive!r}"
        )
    # The kernel has upper limits (Linux: 32767 s, 127 probes); past them
    # every connection attempt would fail, so refuse them here instead.
    options = (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            for option, value in zip(options, (idle, interval, count)):
                probe.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError as exc:
            raise ValueError(
                f"keepalive {keepalive!r} is out of this system's range ({exc})"
            ) from None
    return (idle, interval, count)


def check_terminators(terminator: Terminator) -> tuple[bytes, ...]:
    """Return ``terminator`` as a tuple of non-empty bytes, longest first."""
    terms = terminator if isinstance(terminator, tuple) else (terminator,)
    for term in terms:
        if not isinstance(term, (bytes, bytearray)):
            raise TypeError(
                "terminator must be bytes or a tuple of bytes, e.g. b'\\r\\n', "
                f"not {type(term).__name__}"
            )
        if not term:
            raise ValueError("terminator must not be empty; pass e.g. b'\\n'")
    if not terms:
        raise ValueError("terminator must not be an empty tuple; pass e.g. b'\\n'")
    return tuple(sorted((bytes(t) for t in terms), key=len, reverse=True))


def is_immutable(terminator: object) -> bool:
    """Whether checked terminators can be cached by the object's identity.

    Both transports keep the last immutable terminator object they were given
    and its checked form, so a driver passing the same bytes on every call
    pays for the check once.
    """
    if type(terminator) is bytes:
        return True
    return type(terminator) is tuple and all(type(t) is bytes for t in terminator)


def check_message(msg: Any, name: str = "msg") -> Any:
    """A bytes-like, C-contiguous message; ``str`` is refused with advice.

    Returns the message to send: ``msg`` itself, or ``b""`` for a buffer of
    no bytes (an empty NumPy array of any shape), which not every buffer
    view can be cast to bytes from.
    """
    if type(msg) is bytes:
        return msg
    if isinstance(msg, str):
        raise TypeError(
            f"{name} must be bytes, not str; encode it first, "
            f"e.g. {name}.encode('ascii')"
        )
    try:
        view = memoryview(msg)
    except TypeError:
        raise TypeError(
            f"{name} must be a bytes-like object such as bytes or bytearray, "
            f"not {type(msg).__name__}"
        ) from None
    with view:
        if not view.c_contiguous:
            raise TypeError(
                f"{name} must be C-contiguous; pass bytes({name}) or a "
                "contiguous copy (e.g. numpy.ascontiguousarray)"
            )
        return msg if view.nbytes else b""


def check_buffer(buffer: Any) -> memoryview:
    """A flat, writable byte view of a receive buffer; TypeError if it has none.

    Use it in a ``with`` block: the views are released on the way out, even
    when the call fails, so the caller's bytearray can be resized at once.
    """
    try:
        raw = memoryview(buffer)
    except TypeError:
        raw = None
    if raw is None or raw.readonly or not raw.c_contiguous:
        if raw is not None:
            raw.release()
        raise TypeError(
            "the buffer must be writable and C-contiguous, such as a bytearray "
            f"or NumPy array, not {type(buffer).__name__}"
        )
    with raw:
        return raw.cast("B")


def check_nbytes(nbytes: Any, size: int) -> int:
    """``nbytes`` checked against a buffer of ``size`` bytes; 0 means all."""
    if type(nbytes) is not int:
        nbytes = _integer(nbytes, "nbytes")  # numpy.uint16 and any __index__
    if nbytes == 0:
        return size
    if not 0 < nbytes <= size:
        raise ValueError(
            f"nbytes must be from 0 to the buffer's size {size}, not {nbytes!r}"
        )
    return nbytes


def check_backoff(backoff: Any) -> tuple[float, float]:
    """``reconnect_backoff``: ``(first, most)`` seconds, 0 <= first <= most."""
    try:
        first, most = backoff
        first = check_seconds(first, "reconnect_backoff's first")
        most = check_seconds(most, "reconnect_backoff's most")
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "reconnect_backoff must be (first, most): seconds to wait after "
            "the first failed attempt to connect, doubling up to most; "
            f"(0, 0) turns it off; not {backoff!r} ({exc})"
        ) from None
    if first > most or (most and not first):
        raise ValueError(
            f"reconnect_backoff must be (first, most) with 0 < first <= most, "
            f"or (0, 0) for none; not {backoff!r}"
        )
    return (first, most)


#: The values of ``TCPInterface.resync``.
RESYNC_POLICIES = ("reconnect", "clear", None)


def check_resync(policy: Any) -> str | None:
    """``resync``: ``"reconnect"``, ``"clear"`` or None."""
    if policy not in RESYNC_POLICIES or isinstance(policy, bool):
        raise ValueError(f"resync must be 'reconnect', 'clear' or None, not {policy!r}")
    return policy
