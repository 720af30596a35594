"""``python -m socs_tcp query HOST:PORT COMMAND``: one command, one reply.

The reply goes to stdout (escaped text, or a hex dump with ``--hex``);
errors go to stderr. Exit statuses: 0 with a reply, 1 without one (or when the
device cannot be reached), 2 for a bad command line (nothing is sent), 130
after Ctrl-C, 141 when stdout was closed early.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from socs_tcp.cli import _args, _device
from socs_tcp.errors import TransportError


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``query`` sub-parser to ``commands``.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The sub-parsers of ``python -m socs_tcp``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    query: argparse.ArgumentParser = commands.add_parser(
        "query",
        help="send one command to a device and print its reply",
        description="Send one command to a device and print its reply. "
        f"COMMAND and the terminators take escapes: {_args.ESCAPES_HELP}. "
        "Exit status: 0 with a reply, 1 without, 2 for a bad command line, "
        "130 after Ctrl-C.",
    )
    _device.add_device_arguments(query)
    query.add_argument("command", type=_device.escapes, metavar="COMMAND")
    query.add_argument(
        "--size", type=_args.count, metavar="N", help="read a reply of exactly N bytes"
    )
    return query


def run(args: argparse.Namespace) -> int:
    """Run the ``query`` command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        0 with a reply, 1 without.
    """
    host, port = args.address
    frame = _device.framing(args)
    iface = _device.open_device(host, port, args.timeout)
    if iface is None:
        return _args.FAILED
    try:
        reply = _device.ask(iface, args.command, frame, args.timeout)
    except TransportError as exc:
        print(
            f"error: {_device.explain(exc, frame, '--reply-terminator')}",
            file=sys.stderr,
        )
        return _args.FAILED
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _args.FAILED
    finally:
        iface.close()
    if not reply.data:
        label = _args.format_address(host, port)
        print(f"error: {label} closed the connection", file=sys.stderr)
        return _args.FAILED
    print(_device.render(reply.data, args.hex))
    if reply.cut:
        print(f"note: the reply was cut short: {reply.cut}", file=sys.stderr)
    return _args.OK
