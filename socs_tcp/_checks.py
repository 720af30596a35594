"""Argument checks for ``TCPInterface``: each returns the normalised value or
raises ``TypeError``/``ValueError`` saying what to pass instead."""

import math
import socket


def check_port(port):
    """An int (or a decimal string, as socs accepts) from 1 to 65535."""
    try:
        value = int(port, 10) if isinstance(port, str) else port.__index__()
    except (AttributeError, TypeError, ValueError):
        value = None
    if value is None or isinstance(port, bool) or not 1 <= value <= 65535:
        raise ValueError(f"port must be an integer from 1 to 65535, not {port!r}")
    return value


def check_timeout(timeout, name="timeout"):
    """A timeout is None (wait forever) or a number of seconds >= 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {timeout!r}")
    if not timeout >= 0:  # also catches NaN
        raise ValueError(
            f"{name} must be >= 0 seconds (or None to wait forever), not {timeout!r}"
        )
    return None if math.isinf(timeout) else timeout


def check_keepalive(keepalive):
    """None, or ``(idle, interval, count)`` that this kernel accepts."""
    if keepalive is None:
        return None
    try:
        idle, interval, count = keepalive
        valid = all(isinstance(v, int) and v >= 1 for v in (idle, interval, count))
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
            for option, value in zip(options, keepalive):
                probe.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError as exc:
            raise ValueError(
                f"keepalive {keepalive!r} is out of this system's range ({exc})"
            ) from None
    return tuple(keepalive)


def check_terminators(terminator):
    """Return ``terminator`` as a tuple of non-empty bytes, longest first."""
    if type(terminator) is bytes and terminator:
        return (terminator,)  # the common case, on every recv_until call
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


def check_message(msg, name="msg"):
    """Refuse ``str`` with advice; other types are left to the buffer protocol."""
    if isinstance(msg, str):
        raise TypeError(
            f"{name} must be bytes, not str; encode it first, "
            f"e.g. {name}.encode('ascii')"
        )
