"""``python -m socs_tcp query HOST:PORT COMMAND``: one command, one reply.

The reply goes to stdout (escaped text, or a hex dump with ``--hex``);
errors go to stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from socs_tcp.cli import _device


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
        "COMMAND and the terminators take escapes: \\r, \\n, \\t, \\xNN, \\\\.",
    )
    _device.add_device_arguments(query)
    query.add_argument("command", type=_device.escapes, metavar="COMMAND")
    query.add_argument(
        "--size", type=int, metavar="N", help="read a reply of exactly N bytes"
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
    ends = args.terminator if args.reply_terminator is None else args.reply_terminator
    iface = _device.open_device(host, port, args.timeout)
    if iface is None:
        return 1
    try:
        iface.send(args.command + args.terminator)
        reply = _device.read_reply(iface, ends, args.size, args.timeout)
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        iface.close()
    if not reply:
        print(f"error: {host}:{port} closed the connection", file=sys.stderr)
        return 1
    if ends and args.size is None and reply.endswith(ends):
        reply = reply[: -len(ends)]
    print(_device.render(reply, args.hex))
    return 0
