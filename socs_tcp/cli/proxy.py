"""``python -m socs_tcp proxy HOST:PORT``: forward a driver to a real device.

Prints the address it listens on (one line, flushed at once), forwards every
client to the device with the faults asked for, and on Ctrl-C or SIGTERM
writes what was said as a dialogue file (``--record``) that ``emulate``
serves. Exit statuses: 0 after Ctrl-C or SIGTERM, 1 if it cannot listen, find
the device or write the recording, 2 for a bad command line (nothing is
served).
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any

from socs_tcp.cli import _args
from socs_tcp.testing.proxy import Proxy

#: The fault options: (option, fault name, argument type, metavar, help).
_FAULTS = (
    ("--latency", "latency", _args.seconds, "S", "delay each reply S seconds"),
    ("--chunk", "chunk", _args.count, "N", "pass replies on in pieces of N bytes"),
    (
        "--drop-after",
        "drop_after",
        _args.replies,
        "N",
        "close each connection after N replies",
    ),
    (
        "--idle-close",
        "idle_close",
        _args.seconds,
        "S",
        "close a connection idle for S seconds",
    ),
)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``proxy`` sub-parser to ``commands``.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The sub-parsers of ``python -m socs_tcp``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    proxy: argparse.ArgumentParser = commands.add_parser(
        "proxy",
        help="forward a driver to a real device, with faults, and record it",
        description="Forward every client to the device at HOST:PORT, with the "
        "faults asked for, until Ctrl-C; with --record, write what was said as "
        "a dialogue file that 'emulate' serves. Exit status: 0 after Ctrl-C "
        "or SIGTERM, 1 if it cannot listen or write the file, 2 for a bad "
        "command line.",
    )
    proxy.add_argument("address", type=_args.address, metavar="HOST:PORT")
    proxy.add_argument(
        "--listen",
        type=_args.listen_address,
        default=("127.0.0.1", 0),
        metavar="[HOST:]PORT",
        help="where to listen (default: any free port on 127.0.0.1)",
    )
    proxy.add_argument(
        "--record", type=Path, metavar="FILE", help="write a dialogue file on exit"
    )
    proxy.add_argument(
        "--terminator",
        type=_args.escapes,
        default=b"\n",
        metavar="T",
        help=f"what ends each command, and each reply (default \\n); takes "
        f"{_args.ESCAPES_HELP}",
    )
    proxy.add_argument(
        "--reply-terminator",
        type=_args.escapes,
        metavar="T",
        help="what ends each reply, if not the same as --terminator",
    )
    for option, _, kind, metavar, text in _FAULTS:
        proxy.add_argument(option, type=kind, metavar=metavar, help=text)
    proxy.add_argument(
        "--drop",
        choices=("fin", "rst"),
        help="close instead of forwarding each command (with --drop-after: how "
        "to close)",
    )
    proxy.add_argument(
        "-v", "--verbose", action="store_true", help="print every exchange on stderr"
    )
    return proxy


def _check(args: argparse.Namespace) -> str | None:
    """What is wrong with the options that argparse cannot see, if anything."""
    if not args.terminator or args.reply_terminator == b"":
        return (
            "the proxy frames commands and replies by their terminators; give "
            "one, e.g. --terminator '\\r\\n'"
        )
    record: Path | None = args.record
    if record is not None:
        if record.is_dir():
            return f"--record {record} is a directory; give a file in it, x.toml"
        if not record.parent.is_dir():
            return f"--record {record}: there is no directory {record.parent}"
    return None


def run(args: argparse.Namespace) -> int:
    """Run the ``proxy`` command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        0 after Ctrl-C or SIGTERM, 1 if it cannot listen or record, 2 for a
        bad option.
    """
    wrong = _check(args)
    if wrong is not None:
        return _args.usage_error(wrong)
    faults = {name: getattr(args, name) for _, name, *_ in _FAULTS}
    faults["drop"] = args.drop
    faults = {name: value for name, value in faults.items() if value is not None}
    _args.log_device(args.verbose)
    host, port = args.listen
    where = _args.format_address(host, port)
    try:
        proxy = Proxy(
            args.address,
            terminator=args.terminator,
            reply_terminator=args.reply_terminator,
            host=host,
            port=port,
            **faults,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: cannot listen on {where}: the port is in use by another "
                "program; choose another with --listen PORT, or --listen 0 for "
                "any free one",
                file=sys.stderr,
            )
        else:  # the device's name is unknown, or the address cannot be used
            print(f"error: {exc.strerror}", file=sys.stderr)
        return _args.FAILED
    target = _args.format_address(*args.address)
    listening = _args.format_address(*proxy.address)
    try:
        _args.wait_for_stop(f"forwarding {listening} to {target}; Ctrl-C to stop")
    finally:
        proxy.stop(check=False)
    print(
        f"stopped after {proxy.connections} connections, "
        f"{proxy.counts['received']} commands",
        flush=True,
    )
    if args.record is None:
        return _args.OK
    try:
        proxy.recording.save(args.record)
    except OSError as exc:
        print(f"error: cannot write {args.record}: {exc.strerror}", file=sys.stderr)
        return _args.FAILED
    print(f"recorded {len(proxy.recording)} commands to {args.record}", flush=True)
    return _args.OK
