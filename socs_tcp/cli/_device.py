"""What ``query`` and ``shell`` share: options, connecting, escapes, reading a reply."""

from __future__ import annotations

import argparse
import select
import sys

from socs_tcp import TCPInterface
from socs_tcp._trace import _TEXT

__all__ = [
    "address",
    "arrived",
    "add_device_arguments",
    "open_device",
    "escapes",
    "is_binary",
    "read_reply",
    "render",
    "unescape",
]

#: Seconds of silence that end a reply read without a terminator.
QUIET = 0.1


def address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:5025`` for IPv6) for argparse.

    Parameters
    ----------
    text : str
        The argument.

    Returns
    -------
    tuple of (str, int)
        Host and port.
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT; write e.g. 192.168.1.20:5025 or [::1]:5025"
        )
    return host, int(port)


def unescape(text: str) -> bytes:
    """Turn ``\\r``, ``\\n``, ``\\t``, ``\\xNN`` and ``\\\\`` into bytes.

    Other characters are encoded as UTF-8.

    Parameters
    ----------
    text : str
        What was typed.

    Returns
    -------
    bytes
        The bytes to send.
    """
    try:
        decoded = text.encode("utf-8").decode("unicode_escape")
        return decoded.encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise ValueError(
            f"cannot read the escapes in {text!r} ({exc.reason}); write bytes as "
            f"\\xNN, line ends as \\r and \\n, a backslash as \\\\"
        ) from None


def escapes(argument: str) -> bytes:
    """``unescape`` for argparse: a bad escape is a usage error.

    Parameters
    ----------
    argument : str
        The argument.

    Returns
    -------
    bytes
        The bytes it stands for.
    """
    try:
        return unescape(argument)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def is_binary(data: bytes) -> bool:
    """True if ``data`` holds bytes that are not printable text or line ends.

    Parameters
    ----------
    data : bytes
        A reply.

    Returns
    -------
    bool
        Whether to show it in hex.
    """
    return not _TEXT.issuperset(data)  # the traffic trace's test for text


def render(data: bytes, hex_view: bool) -> str:
    """Show a reply: escaped text, or a hex dump with an ASCII column.

    Parameters
    ----------
    data : bytes
        The reply.
    hex_view : bool
        Hex dump instead of text.

    Returns
    -------
    str
        One or more lines.
    """
    if not hex_view:
        return repr(data)[2:-1]
    lines = []
    for offset in range(0, max(len(data), 1), 16):
        row = data[offset : offset + 16]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{offset:04x}  {row.hex(' '):<47}  |{text}|")
    return "\n".join(lines)


def open_device(host: str, port: int, timeout: float) -> TCPInterface | None:
    """Connect to ``host:port``; print why and return None if it fails.

    Parameters
    ----------
    host, port : str, int
        The device.
    timeout : float
        Seconds each call waits.

    Returns
    -------
    TCPInterface or None
        The connected interface.
    """
    iface = TCPInterface(host, port, timeout)
    if iface.comm is None:
        why = iface._health.error  # what its warning said, without the device
        print(f"error: cannot connect to {host}:{port}: {why}", file=sys.stderr)
        return None
    return iface


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add what ``query`` and ``shell`` share: the device and how it frames.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser; ``HOST:PORT`` is its first positional argument.
    """
    parser.add_argument("address", type=address, metavar="HOST:PORT")
    parser.add_argument(
        "--terminator",
        type=escapes,
        default=b"\n",
        metavar="T",
        help="appended to each command, and what ends a reply (default \\n); "
        "'' for binary protocols: a reply is what arrives until the device "
        f"is quiet for {QUIET} s",
    )
    parser.add_argument(
        "--reply-terminator",
        type=escapes,
        metavar="T",
        help="what ends a reply, if not the same as --terminator",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds to wait for the connection and each reply (default 2)",
    )
    parser.add_argument("--hex", action="store_true", help="show replies in hex")


def read_reply(
    iface: TCPInterface, terminator: bytes, size: int | None, timeout: float
) -> bytes:
    """Read one reply: to the terminator, ``size`` bytes, or until quiet.

    Parameters
    ----------
    iface : TCPInterface
        The connection.
    terminator : bytes
        What ends the reply; empty for binary replies.
    size : int or None
        Read exactly this many bytes (binary protocols).
    timeout : float
        Seconds to wait for the reply.

    Returns
    -------
    bytes
        The reply, terminator included.

    Raises
    ------
    ConnectionError
        No reply in time, or the connection failed.
    """
    if size is not None:
        return iface.recv_exactly(size, timeout=timeout)
    if terminator:
        return iface.recv_until(terminator, timeout=timeout)
    reply = _recv_within(iface, timeout)  # TransportTimeout if nothing comes
    while reply and arrived(iface, QUIET):  # then all that follows until quiet
        more = iface.recv(65536)
        if not more:
            break
        reply += more
    return reply


def arrived(iface: TCPInterface, wait: float) -> bool:
    """True if bytes (or the end of the stream) arrive within ``wait`` seconds.

    Parameters
    ----------
    iface : TCPInterface
        The connection.
    wait : float
        Seconds to wait; 0 to look without waiting.

    Returns
    -------
    bool
        Whether a ``recv()`` would return at once.
    """
    if iface.pending:
        return True
    comm = iface.comm
    return comm is not None and bool(select.select([comm], [], [], wait)[0])


def _recv_within(iface: TCPInterface, timeout: float) -> bytes:
    """One ``recv()`` that waits ``timeout`` seconds at most."""
    saved = iface.timeout
    iface.timeout = timeout
    try:
        return iface.recv(65536)
    finally:
        iface.timeout = saved
