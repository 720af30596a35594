"""``python -m socs_tcp emulate DIALOGUE``: serve a dialogue file until Ctrl-C.

Prints the address it serves on (one line, flushed at once, so a script can
read it), then with ``-v`` every exchange, until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any

from socs_tcp.cli import _args
from socs_tcp.testing.device import FakeDevice
from socs_tcp.testing.dialogue import (
    Dialogue,
    DialogueError,
    load_dialogue,
    shipped_dialogues,
)
from socs_tcp.testing.instruments import INSTRUMENTS, instrument


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``emulate`` sub-parser to ``commands``.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The sub-parsers of ``python -m socs_tcp``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    names = ", ".join(shipped_dialogues())
    emulate: argparse.ArgumentParser = commands.add_parser(
        "emulate",
        help="serve a fake device from a dialogue file until Ctrl-C",
        description="Serve a fake device described by a TOML dialogue file "
        f"until Ctrl-C. DIALOGUE is a file, the name of one that ships "
        f"with socs_tcp: {names}, or of an emulated instrument: "
        f"{', '.join(INSTRUMENTS)}.",
    )
    emulate.add_argument("dialogue", metavar="DIALOGUE")
    emulate.add_argument(
        "--port",
        type=_args.listen_port,
        metavar="N",
        help="port to listen on, 0 for any free one (default: the file's, else "
        "any free one)",
    )
    emulate.add_argument(
        "--host", help="address to listen on (default: the file's, else 127.0.0.1)"
    )
    emulate.add_argument(
        "-v", "--verbose", action="store_true", help="print every exchange on stderr"
    )
    return emulate


def _path(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    shipped = shipped_dialogues()
    if name in shipped:
        return shipped[name]
    known = ", ".join([*shipped, *INSTRUMENTS])
    raise FileNotFoundError(
        f"no dialogue file {name!r}; give a path to a .toml file, or one of {known}"
    )


class _Emulation:
    """An emulated instrument, served as a dialogue is."""

    options: dict[str, Any] = {}

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"emulated {name}"

    def device(self, **overrides: Any) -> FakeDevice:
        return instrument(self.name).device(**overrides)


def _load(name: str) -> Dialogue | _Emulation:
    """The dialogue file or the instrument ``name`` stands for."""
    if name in INSTRUMENTS and not Path(name).exists():
        return _Emulation(name)
    return load_dialogue(_path(name))


def run(args: argparse.Namespace) -> int:
    """Run the ``emulate`` command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        0 after Ctrl-C or SIGTERM, 1 if it cannot serve, 2 for a bad dialogue.
    """
    try:
        dialogue = _load(args.dialogue)
    except (DialogueError, OSError) as exc:
        return _args.usage_error(str(exc))
    overrides = {
        k: v for k, v in (("port", args.port), ("host", args.host)) if v is not None
    }
    _args.log_device(args.verbose)
    try:
        device = dialogue.device(**overrides)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            settings = {**dialogue.options, **overrides}
            where = _args.format_address(
                settings.get("host", "127.0.0.1"), settings.get("port", 0)
            )
            print(
                f"error: cannot listen on {where}: the port is in use by another "
                "program; choose another with --port N, or --port 0 for any free one",
                file=sys.stderr,
            )
        else:
            print(f"error: {exc}", file=sys.stderr)
        return _args.FAILED
    where = _args.format_address(*device.address)
    try:
        _args.wait_for_stop(
            f"serving {device.name} ({dialogue.path}) on {where}; Ctrl-C to stop"
        )
    finally:
        device.stop(check=False)
    print(
        f"stopped after {device.connections} connections, "
        f"{device.counts['received']} commands",
        flush=True,
    )
    return _args.OK
