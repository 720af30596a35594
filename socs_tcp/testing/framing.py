"""Framers: how a fake device cuts the byte stream into commands.

A framer is a callable ``framer(buffer) -> (command, rest) | None``: given
everything received and not yet framed, it returns the first complete
command and the bytes after it, or ``None`` while the command is incomplete.
The device calls it until it returns ``None``, so commands merged in one
segment or split across several are framed the same way.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional

__all__ = [
    "Framer",
    "as_received",
    "by_terminator",
    "fixed_length",
    "length_prefixed",
    "mbap",
]

#: ``framer(buffer) -> (command, rest)``, or ``None`` for "not complete yet".
Framer = Callable[[bytes], Optional[tuple[bytes, bytes]]]


def by_terminator(terminator: bytes) -> Framer:
    """Frame commands ended by ``terminator``; the command excludes it.

    Parameters
    ----------
    terminator : bytes
        What ends each command, such as ``b"\\r\\n"``. Not empty.

    Returns
    -------
    Framer
        The framer.
    """
    if not isinstance(terminator, bytes) or not terminator:
        raise ValueError(f"terminator must be non-empty bytes, not {terminator!r}")

    def frame(buffer: bytes) -> tuple[bytes, bytes] | None:
        end = buffer.find(terminator)
        if end < 0:
            return None
        return buffer[:end], buffer[end + len(terminator) :]

    return frame


def fixed_length(size: int) -> Framer:
    """Frame commands of exactly ``size`` bytes each.

    Parameters
    ----------
    size : int
        Bytes per command, at least 1.

    Returns
    -------
    Framer
        The framer.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1, not {size!r}")

    def frame(buffer: bytes) -> tuple[bytes, bytes] | None:
        if len(buffer) < size:
            return None
        return buffer[:size], buffer[size:]

    return frame


def length_prefixed(
    offset: int,
    size: int,
    *,
    byteorder: Literal["big", "little"] = "big",
    adjust: int = 0,
) -> Framer:
    """Frame commands that carry their own length in a header field.

    The field is ``size`` bytes at ``offset``, an unsigned integer counting
    the bytes that follow it, plus ``adjust``. The command returned is the
    whole frame, header included.

    Parameters
    ----------
    offset : int
        Where the length field starts, in bytes from the start of the frame.
    size : int
        Width of the length field in bytes (1, 2, 4, ...).
    byteorder : {"big", "little"}, optional
        Byte order of the length field. Defaults to ``"big"``.
    adjust : int, optional
        Added to the field's value to get the bytes after it (for protocols
        whose length counts something else, such as a trailing checksum).

    Returns
    -------
    Framer
        The framer.
    """
    if offset < 0 or size < 1:
        raise ValueError(f"need offset >= 0 and size >= 1, not {offset!r}, {size!r}")
    if byteorder not in ("big", "little"):
        raise ValueError(f"byteorder must be 'big' or 'little', not {byteorder!r}")
    head = offset + size

    def frame(buffer: bytes) -> tuple[bytes, bytes] | None:
        if len(buffer) < head:
            return None
        field = int.from_bytes(buffer[offset:head], byteorder)
        end = head + max(0, field + adjust)
        if len(buffer) < end:
            return None
        return buffer[:end], buffer[end:]

    return frame


def mbap() -> Framer:
    """Frame Modbus TCP requests by their MBAP header.

    The header is a transaction id (2 bytes), a protocol id (2), then a
    big-endian length (2) counting the unit id and the PDU that follow. Each
    command is the whole request, header included.

    Returns
    -------
    Framer
        The framer.
    """
    return length_prefixed(4, 2)


def as_received() -> Framer:
    """Take whatever each read returns as one command (an echo device).

    No protocol frames this way: what one read returns depends on how the
    bytes were chunked on the way. Use it for devices that answer bytes as
    they come, such as an echo, never to frame commands.

    Returns
    -------
    Framer
        The framer.
    """

    def frame(buffer: bytes) -> tuple[bytes, bytes] | None:
        return (buffer, b"") if buffer else None

    return frame
