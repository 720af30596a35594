"""Run the workloads side by side; the table, the JSON and the chart.

Runs are interleaved: each repeat runs every library once, in an order that
rotates from one repeat to the next, so a busy moment of a shared machine
falls on all of them alike. A cell is the median of its runs (fewer for a
slow library); under it, its ratio to socs.tcp (what socs_tcp replaces) and
to the plain socket (the least Python can do).

A ratio is the median of the ratios of runs made in the same repeat, side by
side, so that what the machine did between repeats cancels out; when the
middle half of those ratios spans 1x, the table marks it ``~`` (no clear
difference on this run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from socs_tcp import __version__
from socs_tcp.bench import clients
from socs_tcp.bench.peer import Peer
from socs_tcp.bench.plot import plot as plot  # the CLI's bench.plot
from socs_tcp.bench.workloads import Scale, Skip, Workload

Progress = Callable[[str], None]

#: Seconds of runs after which a cell stops repeating: a slow library (pyserial
#: reads lines a byte at a time) gets fewer runs, not minutes.
CELL_SECONDS = 2.0

#: The libraries every row is compared to, in the table's order.
BASELINES = ("socs", "socket")


@dataclasses.dataclass
class Results:
    """One benchmark run: ``samples[workload][library]`` and what did not run."""

    workloads: list[Workload]
    libraries: list[str]
    scale: Scale
    samples: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    notes: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def baseline(self) -> str:
        """The library a lone ratio is taken to (the chart's)."""
        return "socs" if "socs" in self.libraries else "socket"

    @property
    def baselines(self) -> list[str]:
        """The libraries of :data:`BASELINES` that ran."""
        return [name for name in BASELINES if name in self.libraries]

    def median(self, workload: str, library: str) -> float | None:
        """The median of a cell, or None if it has no sample."""
        runs = self.samples.get(workload, {}).get(library)
        return statistics.median(runs) if runs else None

    def paired(
        self, workload: str, library: str, against: str | None = None
    ) -> list[float]:
        """The ratios of ``library``'s runs to those of ``against`` (default
        :attr:`baseline`), repeat by repeat.

        A library's runs are the first repeats of a workload (it stops early
        only when slow or failing), so the first runs of two libraries were
        made in the same repeats, side by side.
        """
        runs = self.samples.get(workload, {})
        mine, theirs = runs.get(library), runs.get(against or self.baseline)
        return [a / b for a, b in zip(mine or (), theirs or ()) if b]

    def ratio(
        self, workload: str, library: str, against: str | None = None
    ) -> float | None:
        """The median of :meth:`paired`, or None where a side has no run.

        The ratio of the numbers as measured: above 1 is faster for a rate,
        slower for a cost (a row whose number is better lower).
        """
        pairs = self.paired(workload, library, against)
        return statistics.median(pairs) if pairs else None

    def unclear(self, workload: str, library: str, against: str) -> bool:
        """Whether the middle half of :meth:`paired` spans 1x (four pairs or
        more): this run shows no clear difference."""
        pairs = self.paired(workload, library, against)
        if len(pairs) < 4:
            return False
        low, _, high = statistics.quantiles(pairs, n=4)
        return low < 1.0 < high


@contextlib.contextmanager
def pinned(pid: int, pin: bool) -> Iterator[None]:
    """This process and ``pid`` on the last usable CPU, if ``pin``."""
    if not pin or not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved = {p: os.sched_getaffinity(p) for p in (0, pid)}
    cpu = max(saved[0])
    try:
        with contextlib.suppress(OSError):  # not allowed here: run unpinned
            for p in saved:
                os.sched_setaffinity(p, {cpu})
        yield
    finally:
        for p, cpus in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(p, cpus)


def run(
    workloads: list[Workload],
    scale: Scale,
    pin: bool = True,
    progress: Progress | None = None,
) -> Results:
    """Run ``workloads`` on every library importable here."""
    began = time.perf_counter()
    results = Results(workloads, [], scale)
    for name in clients.LIBRARIES:
        why = clients.available(name)
        if why is None:
            results.libraries.append(name)
        else:
            results.unavailable[name] = why
    peers: dict[str, Peer] = {}
    try:
        for index, workload in enumerate(workloads, 1):
            if progress:
                progress(
                    f"[{index}/{len(workloads)}] {workload.name}: {workload.title}"
                )
            if workload.peer not in peers:
                peers[workload.peer] = Peer(workload.peer)
            peer = peers[workload.peer]
            samples = results.samples[workload.name] = {}
            notes = results.notes[workload.name] = {}
            spent = dict.fromkeys(results.libraries, 0.0)
            n = len(results.libraries)
            with pinned(peer.pid, pin and workload.pinned):
                for rep in range(1 if workload.once else scale.repeats):
                    for library in (results.libraries * 2)[rep % n : rep % n + n]:
                        if library in notes or spent[library] > CELL_SECONDS:
                            continue
                        start = time.perf_counter()
                        try:
                            value = workload.run(library, peer.address, scale)
                            samples.setdefault(library, []).append(value)
                        except NotImplementedError:
                            notes[library] = "-"
                        except Skip as exc:
                            notes[library] = f"skipped: {exc}"
                        except Exception as exc:
                            notes[library] = f"error: {type(exc).__name__}: {exc}"
                        spent[library] += time.perf_counter() - start
    finally:
        for peer in peers.values():
            peer.close()
    results.seconds = time.perf_counter() - began
    return results


def _number(value: float) -> str:
    """Three significant figures, with k or M past 10,000."""
    for limit, scale, suffix in ((1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= limit:
            scaled = value / scale
            return (
                f"{scaled:.0f}{suffix}"
                if abs(scaled) >= 100
                else f"{scaled:.1f}{suffix}"
            )
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _cell(results: Results, workload: str, library: str) -> str:
    median = results.median(workload, library)
    if median is None:  # "-", "skipped" or "error"; the notes say why
        return results.notes[workload].get(library, "-").split(":")[0]
    return _number(median)


def _ratio(results: Results, workload: str, library: str, against: str) -> str:
    ratio = results.ratio(workload, library, against)
    if ratio is None or library == against:
        return ""
    mark = "~" if results.unclear(workload, library, against) else ""
    return mark + (f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x")  # 0.0041x


def table(results: Results) -> str:
    """The side-by-side table, with a line per skipped or failed cell.

    Each workload is a line of medians, then a line of ratios to each
    library of :attr:`Results.baselines`.
    """
    names = results.libraries
    rows = [["workload", "unit", *(clients.LIBRARIES[n][0] for n in names)]]
    for w in results.workloads:
        unit = w.unit + (" (lower)" if w.lower_is_better else "")
        rows.append([w.name, unit, *(_cell(results, w.name, n) for n in names)])
        for base in results.baselines:
            label = f"  vs {clients.LIBRARIES[base][0]}"
            ratios = [_ratio(results, w.name, n, base) for n in names]
            rows.append([label, "", *ratios])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"socs_tcp {__version__} on Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs",
        f"each cell: median of {results.scale.repeats} interleaved runs (fewer past "
        f"{CELL_SECONDS:g} s)",
        "each 'vs X' line: the median ratio to X of runs made side by side "
        "(above 1x: faster;",
        "  on a (lower) row: costlier); ~: the middle half of those ratios spans 1x",
        "  (judged with 4 runs or more: a --quick run marks nothing)",
        "",
    ]
    for row in rows:
        cells = [
            v.ljust(n) if i < 2 else v.rjust(n)
            for i, (v, n) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    lines += ["", *(f"{w.name:14}{w.title}" for w in results.workloads)]
    for name, why in results.unavailable.items():
        lines.append(f"not run: {clients.LIBRARIES[name][0]}: {why}")
    for name, notes in results.notes.items():
        lines += [f"{name} on {lib}: {why}" for lib, why in notes.items() if why != "-"]
    lines.append(f"finished in {results.seconds:.1f} s")
    return "\n".join(lines)


def to_json(results: Results) -> dict[str, Any]:
    """Everything measured, JSON-ready."""
    return {
        "format": "socs_tcp-bench/2",
        "python": platform.python_version(),
        "scale": dataclasses.asdict(results.scale),
        "baseline": results.baseline,
        "baselines": results.baselines,
        "libraries": results.libraries,
        "unavailable": results.unavailable,
        "workloads": [
            {
                "name": w.name,
                "unit": w.unit,
                "lower_is_better": w.lower_is_better,
                "samples": results.samples[w.name],
                "notes": results.notes[w.name],
            }
            for w in results.workloads
        ],
        "seconds": results.seconds,
    }
