"""Fast, robust drop-in replacement for ``socs.tcp.TCPInterface``.

Replace ``from socs.tcp import TCPInterface`` with
``from socs_tcp import TCPInterface``; nothing else changes.
``BACKEND`` names the transport that loaded: ``'cython'`` or ``'python'``.
"""

from __future__ import annotations

import logging

from socs_tcp._backend import BACKEND
from socs_tcp.errors import (
    ConnectionLost,
    FrameTooLong,
    IncompleteRead,
    NotConnected,
    TransportError,
    TransportTimeout,
)
from socs_tcp.interface import TCPInterface

__version__ = "0.1.0"

# The application decides where log records go; without this, Python's
# last-resort handler would write warnings to stderr.
logging.getLogger("socs_tcp").addHandler(logging.NullHandler())

__all__ = [
    "BACKEND",
    "ConnectionLost",
    "FrameTooLong",
    "IncompleteRead",
    "NotConnected",
    "TCPInterface",
    "TransportError",
    "TransportTimeout",
    "__version__",
]
