"""``python -m socs_tcp bench``: socs_tcp side by side with the alternatives.

The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from socs_tcp.bench import run as bench
from socs_tcp.bench import workloads


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
    parser.add_argument("--repeats", type=int, metavar="N", help="runs per cell")
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


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; return 1 if a cell failed, 2 for bad arguments."""
    try:
        chosen = workloads.select(
            n.strip() for v in args.only for n in v.split(",") if n.strip()
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        try:
            import matplotlib  # noqa: F401 -- fail now, not after the run
        except ImportError:
            print(
                "error: --plot needs matplotlib: pip install 'socs-tcp[plot]'",
                file=sys.stderr,
            )
            return 2
    scale = workloads.QUICK if args.quick else workloads.DEFAULT
    if args.repeats:
        scale = dataclasses.replace(scale, repeats=max(1, args.repeats))
    try:
        results = bench.run(
            chosen,
            scale,
            args.pin,
            lambda line: print(line, file=sys.stderr, flush=True),
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
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
