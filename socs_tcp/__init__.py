"""Fast, robust drop-in replacement for ``socs.tcp.TCPInterface``.

Replace ``from socs.tcp import TCPInterface`` with
``from socs_tcp import TCPInterface``; nothing else changes.
``BACKEND`` names the transport that loaded: ``'cython'`` or ``'python'``;
when the compiled one is missing, importing warns with :class:`SlowPathWarning`
and ``python -m socs_tcp info`` says why. ``Health`` is the snapshot
``TCPInterface.health`` returns; ``trace_traffic()`` turns the traffic trace
on.
"""

from __future__ import annotations

from socs_tcp._backend import BACKEND, SlowPathWarning
from socs_tcp._health import Health
from socs_tcp._trace import trace_traffic
from socs_tcp._version import __version__
from socs_tcp.errors import (
    ConnectionLost,
    FrameTooLong,
    IncompleteRead,
    NotConnected,
    ProtocolError,
    ReplyMismatch,
    TransportError,
    TransportTimeout,
)
from socs_tcp.interface import TCPInterface

__all__ = [
    "BACKEND",
    "ConnectionLost",
    "FrameTooLong",
    "Health",
    "IncompleteRead",
    "NotConnected",
    "ProtocolError",
    "ReplyMismatch",
    "SlowPathWarning",
    "TCPInterface",
    "TransportError",
    "TransportTimeout",
    "__version__",
    "trace_traffic",
]
