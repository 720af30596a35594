"""``python -m socs_tcp bench``: measures socs_tcp side by side.

The table goes to stdout, progress to stderr.
"""

import json
import sys
import time

from socs_tcp.bench import report, runner, workloads


class _Progress:
    """Progress on stderr: one line per workload, redrawn in a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.began = None

    def __call__(self, title=None, index=None, count=None, done=0, total=0):
        if title is not None:
            self._end()
            self.began = time.perf_counter()
            self.head = f"[{index}/{count}] {title}"
            if not self.tty:
                self.stream.write(self.head + " ...\n")
        if self.tty and total:
            self.stream.write(f"\r\033[K{self.head}  {done}/{total} runs")
        self.stream.flush()

    def _end(self):
        if self.began is not None and self.tty:
            took = time.perf_counter() - self.began
            self.stream.write(f"\r\033[K{self.head}  done in {took:.1f} s\n")

    def close(self):
        self._end()
        self.began = None
        self.stream.flush()


def _names(values):
    out = []
    for value in values or ():
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def add_parser(commands):
    """Add the ``bench`` sub-parser to ``commands``."""
    names = ", ".join(w.name for w in workloads.WORKLOADS)
    bench = commands.add_parser(
        "bench",
        help="measure socs_tcp against socs.tcp and a plain socket",
        description="Measure socs_tcp (both backends), socs.tcp and a plain "
        "socket side by side against a loopback peer in another process, and "
        "print one table: the median of each, and its ratio to socs.tcp.",
    )
    bench.add_argument(
        "--quick", action="store_true", help="less work per run and fewer runs"
    )
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--plot", metavar="PATH.png", help="also draw a bar chart (needs matplotlib)"
    )
    bench.add_argument(
        "--only",
        metavar="WORKLOAD",
        action="append",
        help=f"run only these workloads (repeatable or comma-separated): {names}, "
        "or threads for all three thread counts",
    )
    bench.add_argument(
        "--repeats", type=int, metavar="N", help="timed runs per cell (median of N)"
    )
    bench.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="leave request/reply workloads unpinned (by default the client and "
        "the peer share one CPU for them)",
    )
    return bench


def run(args):
    """Run the ``bench`` command; return the exit code."""
    try:
        chosen = workloads.select(_names(args.only))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scale = workloads.QUICK if args.quick else workloads.DEFAULT
    if args.repeats:
        scale = workloads.dataclasses.replace(scale, repeats=max(1, args.repeats))
    if args.plot:
        try:
            import matplotlib  # noqa: F401 -- fail now, not after the run
        except ImportError:
            print(
                "error: --plot needs matplotlib: pip install 'socs-tcp[plot]'",
                file=sys.stderr,
            )
            return 2
    progress = _Progress(sys.stderr)
    try:
        results = runner.run(chosen, scale, progress, pin=args.pin)
    except KeyboardInterrupt:  # the peers and connections are closed by now
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        progress.close()
    print(report.table(results))
    if args.json:
        settings = {
            "quick": args.quick,
            "only": _names(args.only) or None,
            "pin": args.pin,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report.to_json(results, settings), file, indent=2)
            file.write("\n")
        print(f"wrote {args.json}")
    if args.plot:
        report.plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 1 if results.errors else 0
