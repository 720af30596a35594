"""The traffic trace: logger ``socs_tcp.traffic``, one DEBUG line per send
and receive.

Off by default, even when the application logs everything at DEBUG: the
logger's own level is INFO until the application lowers it::

    logging.getLogger("socs_tcp.traffic").setLevel(logging.DEBUG)

Lines read ``192.168.1.2:502 > b'*IDN?\\r\\n'`` (sent) and
``192.168.1.2:502 < 00 01 00 00 00 05`` (received): printable text as a
bytes literal, anything else as hex, cut at :data:`LIMIT` bytes with a
marker saying how many there were.
"""

from __future__ import annotations

import logging

traffic = logging.getLogger("socs_tcp.traffic")
traffic.setLevel(logging.INFO)

#: Bytes shown per line; longer data is cut, with a marker.
LIMIT = 120

_TEXT = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def enabled() -> bool:
    """Whether the trace is on (the logger lets DEBUG records through)."""
    return traffic.isEnabledFor(logging.DEBUG)


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


#: The trace logger's own cache of ``isEnabledFor`` answers (CPython's
#: ``logging`` clears it whenever any level changes), or None. The
#: transports read ``CACHE.get(logging.DEBUG)`` instead of calling
#: :func:`enabled` on every send: ``False`` there means the trace is off;
#: anything else sends the front to :func:`enabled`, which fills it in.
CACHE: dict[int, bool] | None = getattr(traffic, "_cache", None)
