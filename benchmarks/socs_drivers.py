"""socs's eight drivers through failures: socs.tcp vs socs_tcp's transports.

Usage::

    python benchmarks/socs_drivers.py [--driver NAME] [--scenario NAME]

Runs each socs 0.6.4 driver, unchanged, on ``socs.tcp.TCPInterface`` and
on ``socs_tcp.TCPInterface`` over each transport, through each scenario of
:mod:`socs_tcp.testing.instruments.socs_drivers` (five polls per run), and
prints, per scenario, the failed polls / stale replies / exceptions other
than ConnectionError, summed over the drivers. Needs socs
(``pip install --no-deps socs``) and NumPy. Takes about a minute.
"""

from __future__ import annotations

import argparse
import sys

from socs_tcp import _backend, interface
from socs_tcp.testing.instruments.socs_drivers import DRIVERS, SCENARIOS, run


def _classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    try:
        from socs.tcp import TCPInterface as SocsInterface
    except ImportError:
        sys.exit("socs is not installed: pip install --no-deps socs")
    classes["socs.tcp"] = SocsInterface
    for name in ("python", "cython"):
        try:
            transport = _backend.load(name).Transport
        except ImportError:
            continue
        classes[f"socs_tcp {name}"] = type(
            "TCPInterface", (interface.TCPInterface,), {"_transport_type": transport}
        )
    return classes


def _cell(counts: list[int]) -> str:
    return f"{counts[0]:>7} / {counts[1]:>3} / {counts[2]:>3}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=list(DRIVERS), action="append")
    parser.add_argument("--scenario", choices=list(SCENARIOS), action="append")
    args = parser.parse_args(argv)
    drivers = args.driver or list(DRIVERS)
    scenarios = args.scenario or list(SCENARIOS)
    classes = _classes()
    width = max(len(s) for s in scenarios)
    print(f"{len(drivers)} drivers x 5 polls; cells: failed polls / stale / other")
    header = f"{'scenario':<{width}}  " + "  ".join(f"{c:>19}" for c in classes)
    print(header)
    print("-" * len(header))
    totals = {c: [0, 0, 0] for c in classes}
    for scenario in scenarios:
        cells = []
        for label, base in classes.items():
            counts = [0, 0, 0]
            for driver in drivers:
                result = run(driver, scenario, base)
                for i, n in enumerate((result.failed, result.stale, result.other)):
                    counts[i] += n
                    totals[label][i] += n
            cells.append(_cell(counts))
        print(f"{scenario:<{width}}  " + "  ".join(cells), flush=True)
    print("-" * len(header))
    print(f"{'total':<{width}}  " + "  ".join(_cell(t) for t in totals.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
