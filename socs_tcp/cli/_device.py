"""What ``query`` and ``shell`` share: options, connecting, one exchange, messages."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import select
import sys
import time

from socs_tcp import TCPInterface
from socs_tcp._limits import DEFAULT_MAX_SIZE
from socs_tcp._trace import _TEXT
from socs_tcp.cli._args import address, count, escapes, format_address, seconds
from socs_tcp.cli._args import unescape as unescape
from socs_tcp.errors import FrameTooLong, TransportError, TransportTimeout

__all__ = [
    "Framing",
    "add_device_arguments",
    "address",
    "arrived",
    "ask",
    "escapes",
    "explain",
    "is_binary",
    "open_device",
    "render",
    "unescape",
]

#: Seconds of silence that end a reply read without a terminator.
QUIET = 0.1

#: Line ends a hint may suggest, tried in this order.
_LINE_ENDS = (b"\r\n", b"\n\r", b"\r", b"\n")


@dataclasses.dataclass
class Framing:
    """How commands are sent and replies read.

    Attributes
    ----------
    terminator : bytes
        Appended to each command; also what ends a reply unless ``reply``
        says otherwise. Empty, with no ``reply``: a reply is what arrives
        until the device falls quiet.
    reply : bytes or None
        What ends a reply, if not ``terminator``.
    size : int or None
        Read replies of exactly this many bytes instead.
    max_size : int
        Longest reply read until the device falls quiet.
    """

    terminator: bytes = b"\n"
    reply: bytes | None = None
    size: int | None = None
    max_size: int = DEFAULT_MAX_SIZE

    @property
    def ends(self) -> bytes:
        """What ends a reply; empty when the device's silence does."""
        return self.terminator if self.reply is None else self.reply

    def describe(self) -> str:
        """The framing in a few words.

        Returns
        -------
        str
            Terminator and how a reply ends.
        """
        if self.size is not None:
            ends = f"after {self.size} bytes"
        else:
            ends = render(self.ends, False) or f"when quiet for {QUIET:g} s"
        return (
            f"terminator {render(self.terminator, False) or 'none'}, reply ends {ends}"
        )


@dataclasses.dataclass
class Reply:
    """A reply, and why it was cut short if it was.

    Attributes
    ----------
    data : bytes
        The reply, without its terminator; empty if the device closed the
        connection instead.
    cut : str or None
        Why the read stopped before the device fell quiet, as a clause.
    """

    data: bytes
    cut: str | None = None


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
        The connected interface. Its ``write_terminator`` is empty: the
        caller's :class:`Framing` adds the terminator.
    """
    # The interface's warning would repeat the line printed below.
    quiet = logging.NullHandler()
    logger = logging.getLogger("socs_tcp")
    logger.addHandler(quiet)
    try:
        cls = type("CLIInterface", (TCPInterface,), {"write_terminator": b""})
        iface: TCPInterface = cls(host, port, timeout)
    finally:
        logger.removeHandler(quiet)
    if iface.comm is None:
        why = iface.health.last_error or "connection not established"
        label = format_address(host, port)
        print(f"error: cannot connect to {label}: {why}", file=sys.stderr)
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
        type=seconds,
        default=2.0,
        metavar="S",
        help="seconds to wait for the connection and each reply, above 0 "
        "(default 2); also the most a reply read until quiet may take",
    )
    parser.add_argument(
        "--max-size",
        type=count,
        default=DEFAULT_MAX_SIZE,
        metavar="N",
        help="longest reply read until quiet, in bytes (default 1 MiB)",
    )
    parser.add_argument("--hex", action="store_true", help="show replies in hex")


def framing(args: argparse.Namespace) -> Framing:
    """The :class:`Framing` the parsed options describe.

    Parameters
    ----------
    args : argparse.Namespace
        Options added by :func:`add_device_arguments` (and ``size``, if the
        command has it).

    Returns
    -------
    Framing
        How to send and read.
    """
    return Framing(
        args.terminator,
        args.reply_terminator,
        getattr(args, "size", None),
        args.max_size,
    )


def ask(iface: TCPInterface, command: bytes, frame: Framing, timeout: float) -> Reply:
    """Send ``command`` and read its own reply.

    With a reply terminator this is :meth:`TCPInterface.query`, which never
    returns the reply to an earlier command. Otherwise stale input is
    discarded first, then the reply is read by size or until quiet.

    Parameters
    ----------
    iface : TCPInterface
        The connection, from :func:`open_device`.
    command : bytes
        The command, without terminator.
    frame : Framing
        How to send and read.
    timeout : float
        Seconds to wait for the reply; a reply read until quiet takes no
        longer than this either.

    Returns
    -------
    Reply
        The reply.

    Raises
    ------
    ConnectionError
        No reply in time, or the connection failed.
    """
    message = command + frame.terminator
    if frame.size is None and frame.ends:
        return Reply(iface.query(message, terminator=frame.ends, timeout=timeout))
    iface.clear()
    iface.send(message)
    if frame.size is not None:
        return Reply(iface.recv_exactly(frame.size, timeout=timeout))
    return _until_quiet(iface, timeout, frame.max_size)


def _until_quiet(iface: TCPInterface, timeout: float, limit: int) -> Reply:
    """What arrives until ``QUIET`` s of silence, within ``timeout`` and ``limit``."""
    deadline = time.monotonic() + timeout
    if not arrived(iface, timeout):
        raise TransportTimeout.expired(timeout)
    reply = b""
    late = f"the device was not quiet for {QUIET:g} s within {timeout:g} s (--timeout)"
    while len(reply) < limit:
        more = iface.recv(limit - len(reply))
        if not more:
            return Reply(reply)
        reply += more
        wait = min(QUIET, deadline - time.monotonic())
        if wait <= 0:
            return Reply(reply, late)
        if not arrived(iface, wait):
            return Reply(reply, None if wait == QUIET else late)
    return Reply(reply, f"it reached {limit} bytes (--max-size)")


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


def explain(exc: TransportError, frame: Framing, option: str) -> str:
    """Say why no reply came, with what did arrive and what to try.

    Parameters
    ----------
    exc : TransportError
        What the interface raised.
    frame : Framing
        How the reply was read.
    option : str
        How the user sets the reply terminator: ``--reply-terminator`` on
        the command line, ``%reply`` in the shell.

    Returns
    -------
    str
        One line.
    """
    if isinstance(exc, FrameTooLong):
        ends = render(frame.ends, False)
        return (
            f"no {ends} in the first {len(exc.partial)} bytes of the reply; "
            f"is the reply terminator right? ({option} T, or --terminator '' "
            "to read until the device is quiet)"
        )
    text = str(exc)
    if not exc.partial or not isinstance(exc, TransportTimeout):
        return text
    shown = render(exc.partial[:200], False) + ("..." if len(exc.partial) > 200 else "")
    text += f"; arrived: '{shown}'"
    seen = next((end for end in _LINE_ENDS if end in exc.partial), None)
    if seen is not None and seen != frame.ends:
        end = render(seen, False)
        return f"{text}; does the reply end in {end}? try {option} '{end}'"
    ends = render(frame.ends, False)
    return f"{text}; is the reply terminator {ends} right? ({option} T)"
