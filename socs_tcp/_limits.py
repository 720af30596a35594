"""Sizes and bounds shared by the front and both transports, defined once."""

from __future__ import annotations

#: Least a buffered read (``recv_until``, ``recv_exactly``, ``clear``) asks
#: the kernel for at once.
CHUNK_SIZE = 65536

#: Most one kernel read asks for. ``recv(bufsize)`` returns at most this many
#: bytes per call, and a buffered read never asks for more at once, so a
#: huge argument never allocates a huge buffer up front.
MAX_READ = 1 << 22

#: Longest frame ``recv_until`` accepts by default, terminator included.
DEFAULT_MAX_SIZE = 1 << 20

#: Longest timeout honoured as a number, in seconds (about 31 years). Longer
#: ones, and ``inf``, wait forever, like ``None``: past it the kernel's and
#: Python's own timers overflow.
MAX_TIMEOUT = 1e9

#: How many discarded bytes ``clear`` quotes in its log line.
PREVIEW = 80

#: Largest block ``recv_block`` and ``query_block`` accept by default: a
#: header that declares more is refused before anything is allocated.
DEFAULT_MAX_BLOCK = 1 << 28
