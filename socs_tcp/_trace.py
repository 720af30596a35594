"""The traffic trace: logger ``socs_tcp.traffic``, one DEBUG line per send
and receive.

Commands can carry passwords, so the trace has its own switch and is off
until it is turned on explicitly: :func:`trace_traffic`, or the environment
variable ``SOCS_TCP_TRACE=1`` when the package is imported. No logger
level turns it on by itself, however the application configures logging
(``logging.config.dictConfig`` naming ``socs_tcp`` at DEBUG included). With
the switch on, lines go to the ``socs_tcp.traffic`` logger at DEBUG, and
that logger's level and handlers still apply.

Lines read ``192.168.1.2:502 > b'*IDN?\\r\\n'`` (sent) and
``192.168.1.2:502 < 00 01 00 00 00 05`` (received): printable text as a
bytes literal, anything else as hex, cut at :data:`LIMIT` bytes with a
marker saying how many there were.
"""

from __future__ import annotations

import logging
import os

__all__ = ["LIMIT", "enabled", "record", "render", "trace_traffic"]

traffic = logging.getLogger("socs_tcp.traffic")

#: The environment variable that turns the trace on at import (``1``).
ENVIRONMENT = "SOCS_TCP_TRACE"

#: Bytes shown per line; longer data is cut, with a marker.
LIMIT = 120

_TEXT = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}

#: The explicit switch, ``[on]``: a list, so the transports hold the one
#: object and read ``SWITCH[0]`` on every send instead of calling
#: :func:`enabled` (True there sends the front to :func:`enabled`).
SWITCH = [False]


def trace_traffic(on: bool = True) -> None:
    """Turn the traffic trace on (or off) for every interface in the process.

    Turning it on also lets DEBUG records through the ``socs_tcp.traffic``
    logger (its level is set to DEBUG when it would drop them); where they
    go is the application's logging configuration. Interfaces pick the
    change up at their next send.

    Parameters
    ----------
    on : bool, optional
        True (the default) to trace, False to stop.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be True or False, not {on!r}")
    SWITCH[0] = on
    if on and not traffic.isEnabledFor(logging.DEBUG):
        traffic.setLevel(logging.DEBUG)


def enabled() -> bool:
    """Whether the trace is on: switched on, and the logger passes DEBUG."""
    return SWITCH[0] and traffic.isEnabledFor(logging.DEBUG)


def render(data: bytes | bytearray | memoryview) -> str:
    """``data`` as a bytes literal if it is text, else as hex; cut at LIMIT."""
    raw = bytes(data[:LIMIT])
    shown = repr(raw) if _TEXT.issuperset(raw) else raw.hex(" ")
    if len(data) > LIMIT:
        shown += f" ... ({len(data)} bytes)"
    return shown


def record(label: str, direction: str, data: bytes | bytearray | memoryview) -> None:
    """Log one line: ``direction`` is ``>`` for sent, ``<`` for received."""
    traffic.debug("%s %s %s", label, direction, render(data))


if os.environ.get(ENVIRONMENT, "").strip() not in ("", "0"):
    trace_traffic()
