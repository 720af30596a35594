"""``python -m socs_tcp bench``: socs_tcp side by side with the alternatives.

The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from socs_tcp.bench import run as bench
from socs_tcp.bench import workloads
from socs_tcp.cli import _args


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-parser to ``commands``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench",
        help="measure socs_tcp against socs.tcp and the alternatives",
        description="Measure socs_tcp (both transports), socs.tcp, a plain socket, "
        "a C client (where a C compiler is), asyncio streams, and pyserial and "
        "pyvisa-py where installed, against a loopback peer in another process; "
        "print the median of each and its ratios to socs.tcp and to the plain "
        "socket.",
    )
    names = ", ".join(w.name for w in workloads.WORKLOADS)
    parser.add_argument("--quick", action="store_true", help="less work, fewer runs")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORKLOAD",
        help=f"repeatable or comma-separated: {names}",
    )
    parser.add_argument(
        "--repeats", type=_args.count, metavar="N", help="runs per cell (1 or more)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    parser.add_argument(
        "--plot", metavar="PATH.png", help="also draw a chart (needs matplotlib)"
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="leave request/reply workloads unpinned",
    )
    return parser


def _unwritable(option: str, path: str | None) -> str | None:
    """Why ``path`` cannot be written, in one line; None if it can."""
    if path is None:
        return None
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        return f"{option} {path} is a directory; give a file name"
    if not folder.is_dir():
        return f"{option} {path}: there is no directory {folder}; create it first"
    if not os.access(folder, os.W_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        return f"{option} {path}: not allowed to write there; give another path"
    return None


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; return 1 if a cell failed, 2 for bad arguments.

    Every argument, and where the results go, is checked before the run.
    """
    try:
        chosen = workloads.select(
            n.strip() for v in args.only for n in v.split(",") if n.strip()
        )
    except ValueError as exc:
        return _args.usage_error(str(exc))
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        why = _unwritable(option, path)
        if why is not None:
            return _args.usage_error(why)
    if args.plot:
        try:
            import matplotlib  # noqa: F401 -- fail now, not after the run
        except ImportError:
            return _args.usage_error("--plot needs matplotlib: pip install matplotlib")
    scale = workloads.QUICK if args.quick else workloads.DEFAULT
    if args.repeats:
        scale = dataclasses.replace(scale, repeats=args.repeats)
    try:
        results = bench.run(
            chosen,
            scale,
            args.pin,
            lambda line: print(line, file=sys.stderr, flush=True),
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return _args.INTERRUPTED
    print(bench.table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(bench.to_json(results), file, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        bench.plot(results, args.plot)
        print(f"wrote {args.plot}")
    notes = [why for row in results.notes.values() for why in row.values()]
    return 1 if any(why.startswith("error") for why in notes) else 0
