"""What every command shares: argument types, one-line usage errors, exit statuses.

A command's bad argument is refused while the command line is parsed, before
anything is sent or served: one line on stderr that says what to type, and
exit status :data:`USAGE`. Types that check a value (``address``, ``port``,
``seconds``, ``count``, ``escapes``) raise ``argparse.ArgumentTypeError``;
their ``parse_*``/``unescape`` counterparts raise ``ValueError`` with the same
text, for values typed elsewhere (the shell's ``%timeout``).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn, TypeVar

T = TypeVar("T")

#: Exit statuses, the same for every command.
OK = 0  #: it did what was asked
FAILED = 1  #: the device did not answer, could not be reached, or a run failed
USAGE = 2  #: a bad command line: nothing was sent
INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT), as shells report it
CLOSED_PIPE = 141  #: stdout was closed early (128 + SIGPIPE), as ``head`` causes

#: The escapes a command or terminator may contain, and the bytes they stand for.
ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.?)", re.DOTALL)
ESCAPES_HELP = "\\r \\n \\t \\0 \\xNN, and \\\\ for a backslash"


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors and exit status :data:`USAGE`.

    Sub-parsers made by ``add_subparsers().add_parser`` are of this class too.
    """

    def error(self, message: str) -> NoReturn:
        """Print one line saying what is wrong and where help is; exit 2.

        Parameters
        ----------
        message : str
            What argparse found wrong.
        """
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def usage_error(message: str) -> int:
    """Report a bad argument found after parsing; return :data:`USAGE`.

    Parameters
    ----------
    message : str
        What is wrong and what to type instead, in one line.

    Returns
    -------
    int
        :data:`USAGE`, for the command to return.
    """
    print(f"error: {message}", file=sys.stderr)
    return USAGE


def closed_pipe() -> int:
    """Leave quietly after stdout was closed; return :data:`CLOSED_PIPE`.

    Whatever is still buffered for stdout is thrown away, so that the
    interpreter's own flush at exit does not fail a second time.

    Returns
    -------
    int
        :data:`CLOSED_PIPE`.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file
        pass
    return CLOSED_PIPE


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def wait_for_stop(ready: str) -> None:
    """Print ``ready``, then wait for Ctrl-C or SIGTERM; both return.

    The signals are caught before the line is printed, so a script that
    reads it may stop the command at once. SIGINT is caught even where it
    was ignored (a command started with ``&`` from a script).

    Parameters
    ----------
    ready : str
        The line saying the command is serving, flushed at once.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        print(ready, flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def log_device(verbose: bool) -> None:
    """Show what a served fake device or proxy logs, on stderr.

    Parameters
    ----------
    verbose : bool
        Every exchange; otherwise only warnings and errors (a device the
        proxy cannot reach, a dialogue reply that failed).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(relativeCreated)9.0f ms  %(message)s"))
    log = logging.getLogger("socs_tcp.testing")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _typed(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Turn a ``ValueError`` of ``parse`` into argparse's type error."""

    def check(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    check.__name__ = parse.__name__.replace("parse_", "")
    check.__doc__ = parse.__doc__
    return check


def parse_port(text: str, free: bool = False) -> int:
    """A port number, 1 to 65535 (0 too, meaning any free port, with ``free``).

    Parameters
    ----------
    text : str
        What was typed.
    free : bool
        Accept 0 for "any free port" (a port to listen on).

    Returns
    -------
    int
        The port.
    """
    low = 0 if free else 1
    if not text.isdigit() or not low <= int(text) <= 65535:
        extra = ", or 0 for any free port" if free else ""
        why = "is out of range" if text.isdigit() else "is not a port number"
        raise ValueError(f"port {text} {why}; give 1 to 65535{extra}")
    return int(text)


def parse_listen_port(text: str) -> int:
    """A port to listen on: 0 (any free port) to 65535.

    Parameters
    ----------
    text : str
        What was typed.

    Returns
    -------
    int
        The port.
    """
    return parse_port(text, free=True)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5025`` for IPv6) as ``(host, port)``.

    Parameters
    ----------
    text : str
        What was typed.

    Returns
    -------
    tuple of (str, int)
        Host and port.
    """
    return _host_port(text, free=False)


def parse_listen_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` to listen on, as ``(host, port)``; port 0 is any free one.

    Parameters
    ----------
    text : str
        What was typed; a bare port listens on 127.0.0.1.

    Returns
    -------
    tuple of (str, int)
        Host and port.
    """
    if text.isdigit():
        return "127.0.0.1", parse_listen_port(text)
    return _host_port(text, free=True)


def _host_port(text: str, free: bool) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    # An IPv6 host only in brackets; nothing else may hold ":", "[" or "]".
    stray = any(c in host for c in "[]") or (":" in host and not bracketed)
    if not sep or not host or not port.isdigit() or stray:
        if free:
            shape, example = "[HOST:]PORT", "127.0.0.1:5025, [::1]:0 or 5025"
        else:
            shape, example = "HOST:PORT", "192.168.1.20:5025 or [::1]:5025"
        raise ValueError(f"{text!r} is not {shape}; write e.g. {example}")
    try:
        return host, parse_port(port, free)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def format_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host.

    Parameters
    ----------
    host : str
        Host name or address.
    port : int
        Port.

    Returns
    -------
    str
        The address as ``HOST:PORT`` reads it back.
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_seconds(text: str) -> float:
    """A finite number of seconds above 0, as ``--timeout`` takes.

    Parameters
    ----------
    text : str
        What was typed.

    Returns
    -------
    float
        The seconds.
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(
            f"{text!r} is not a number of seconds above 0; write e.g. 2 or 0.5"
        )
    return value


def parse_count(text: str, what: str = "bytes") -> int:
    """A whole number of ``what`` (bytes, replies), 1 or more.

    Parameters
    ----------
    text : str
        What was typed.
    what : str
        What is counted, for the message.

    Returns
    -------
    int
        The count.
    """
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a number of {what}; write e.g. 4 or 1024")
    return int(text)


def parse_replies(text: str) -> int:
    """A whole number of replies, 1 or more (see :func:`parse_count`)."""
    return parse_count(text, "replies")


def unescape(text: str) -> bytes:
    """Turn the escapes in ``text`` into bytes; other characters become UTF-8.

    Parameters
    ----------
    text : str
        What was typed: ``\\r``, ``\\n``, ``\\t``, ``\\0``, ``\\xNN`` and ``\\\\``
        are escapes; a backslash before anything else is an error.

    Returns
    -------
    bytes
        The bytes to send.
    """
    out = []
    end = 0
    for match in _ESCAPE.finditer(text):
        out.append(text[end : match.start()].encode("utf-8"))
        code = match.group(1)
        if code in ESCAPES:
            out.append(ESCAPES[code])
        elif len(code) == 3:
            out.append(bytes([int(code[1:], 16)]))
        else:
            what = f"\\{code}" if code else "a lone \\ at the end"
            if code == "x":
                digits = text[match.end() : match.end() + 2]
                what = f"\\x{digits} (\\x takes two hex digits)"
            raise ValueError(
                f"cannot read the escapes in {text!r}: {what} is not an escape; "
                f"write {ESCAPES_HELP}"
            )
        end = match.end()
    out.append(text[end:].encode("utf-8"))
    return b"".join(out)


#: ``HOST:PORT`` for argparse.
address = _typed(parse_address)
#: A port to listen on: 0 (any free port) to 65535, for argparse.
listen_port = _typed(parse_listen_port)
#: ``[HOST:]PORT`` to listen on, for argparse.
listen_address = _typed(parse_listen_address)
#: ``--timeout`` and other waits, for argparse.
seconds = _typed(parse_seconds)
#: ``--size`` and other byte counts, for argparse.
count = _typed(parse_count)
#: ``--drop-after``: a number of replies, for argparse.
replies = _typed(parse_replies)
#: A command or terminator with escapes, for argparse.
escapes = _typed(unescape)
