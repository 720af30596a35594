"""Command line: ``python -m socs_tcp COMMAND``.

Each command is a module of this package with two functions:
``add_parser(commands)`` adds its sub-parser to the ``argparse`` sub-parsers
``commands``, and ``run(args) -> int`` carries it out and returns the exit
code (the statuses of :mod:`socs_tcp.cli._args`, which also has the shared
argument types). A command module is imported only when the parser is built,
so ``import socs_tcp`` never pays for the command line. Ctrl-C that a command
does not handle itself, and a stdout closed early, end every command the same
way, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from socs_tcp.cli import _args

#: The command modules, in the order ``--help`` lists them.
COMMANDS = ("bench", "info", "query", "shell", "emulate", "proxy")


def parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m socs_tcp`` with every command."""
    top = _args.Parser(
        prog="python -m socs_tcp", description="socs_tcp command-line tools."
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        sub = module.add_parser(commands)
        sub.set_defaults(run=module.run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m socs_tcp`` with ``argv``; return the exit code."""
    top = parser()
    args = top.parse_args(argv)
    if getattr(args, "run", None) is None:
        top.print_help()
        return _args.USAGE
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return _args.INTERRUPTED
    except BrokenPipeError:
        return _args.closed_pipe()
    return code
