"""The bench's charts: a 16:9 headline for a slide, and every row beside it.

The headline compares socs_tcp with socs.tcp and the plain socket on the
rows a driver author asks about (round trip, CPU per query, lines, stream,
16 threads). Each bar is a median with the fastest and slowest run as a
whisker, and says its value and its ratio to the baseline, so the figure
reads without the table. A row whose bars span decades gets a log scale.
matplotlib is imported only here, when a chart is asked for.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from socs_tcp import __version__
from socs_tcp.bench import clients

if TYPE_CHECKING:
    from socs_tcp.bench.run import Results
    from socs_tcp.bench.workloads import Workload

#: The headline rows, in order: a panel title, and how the title says a ratio.
HEADLINE = {
    "query": ("Round trip", "the round trips"),
    "cpu": ("CPU per query", "the CPU"),
    "lines": ("Lines", "the line rate"),
    "stream": ("Stream", "the stream rate"),
    "threads-16": ("16 threads", "the round trips from 16 threads"),
}
#: The headline's libraries: socs_tcp, what it replaces, and the ceiling.
HEADLINE_LIBRARIES = ("cython", "python", "socs", "socket")
#: socs_tcp stands out; the baseline and the ceiling are greys.
COLOURS = {
    "cython": "#d95f02",
    "python": "#f4a261",
    "socs": "#6b6b6b",
    "socket": "#b8b8b8",
    "c": "#3d3d3d",
    "asyncio": "#8da0cb",
    "pyserial": "#a6cee3",
    "pyvisa": "#b2abd2",
}
#: Names for a slide, where they differ from the table's.
NAMES = {
    "cython": "socs_tcp\ncompiled",
    "python": "socs_tcp\npure Python",
    "socket": "plain socket\n(the ceiling)",
}
#: One-line names, for panels with more bars than two lines each leave room for.
SHORT_NAMES = {
    "cython": "socs_tcp compiled",
    "python": "socs_tcp Python",
    "socket": "plain socket",
}
#: The x axis ends this many times past the longest bar (on a log scale, in
#: decades), so the value and ratio beside it stay inside the panel.
ROOM = 1.95
#: A row whose largest bar is this many times its smallest is drawn on a log
#: scale, so the small bars stay readable.
LOG_SPAN = 30.0
#: 16:9 at 100 dpi: 1600 x 900 pixels.
SIZE = (16.0, 9.0)
DPI = 100


def plot(results: Results, path: str, rest: bool = True) -> list[str]:
    """Draw the headline chart at ``path``; with ``rest``, every row beside it.

    Parameters
    ----------
    results : Results
        A bench run.
    path : str
        The headline figure's file (PNG, or any format matplotlib writes).
    rest : bool
        Also draw every workload and library measured, in ``<path>-all``
        (``bench.png`` gives ``bench-all.png``), when there is more than the
        headline shows.

    Returns
    -------
    list of str
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [w for w in results.workloads if results.samples.get(w.name)]
    named = {w.name: w for w in measured}
    headline = [named[n] for n in HEADLINE if n in named] or measured
    shown = [n for n in HEADLINE_LIBRARIES if n in results.libraries]
    written = []
    figures = [(path, headline, shown or results.libraries, _headline_title)]
    if rest and (len(headline) < len(measured) or shown != results.libraries):
        stem, ext = os.path.splitext(path)
        figures.append((f"{stem}-all{ext}", measured, results.libraries, _rest_title))
    for out, rows, libraries, title in figures:
        fig = _figure(plt, results, rows, list(libraries), title(results, rows))
        fig.savefig(out, dpi=DPI)
        plt.close(fig)
        written.append(out)
    return written


def _figure(
    plt: Any,
    results: Results,
    rows: Sequence[Workload],
    libraries: list[str],
    title: str,
) -> Any:
    """One figure: a panel per workload, a bar per library, in two rows past 5."""
    columns = min(len(rows), 5)
    lines = -(-len(rows) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=SIZE, squeeze=False)
    fig.subplots_adjust(
        left=0.11, right=0.975, top=0.80 if lines == 1 else 0.82, bottom=0.10,
        wspace=0.12, hspace=0.5 if lines < 3 else 0.65,
    )  # fmt: skip
    for index, ax in enumerate(axes.flat):
        if index >= len(rows):
            ax.set_visible(False)
            continue
        _panel(ax, results, rows[index], libraries, first=index % columns == 0)
    fig.suptitle(title, x=0.02, y=0.975, ha="left", fontsize=22, weight="bold")
    fig.text(0.02, 0.905, _subtitle(results), ha="left", fontsize=12, color="#444")
    fig.text(
        0.02, 0.025,
        "bar: median of interleaved runs; whisker: fastest to slowest run; "
        f"label: median, and the median ratio of side-by-side runs to "
        f"{clients.LIBRARIES[results.baseline][0]} "
"(below 1× is better where lower is better)",
        ha="left", fontsize=11, color="#444",
    )  # fmt: skip
    return fig


def _panel(
    ax: Any, results: Results, w: Workload, libraries: list[str], first: bool
) -> None:
    """One workload's bars, each labelled with its median and ratio."""
    from matplotlib import ticker

    samples = results.samples[w.name]
    names = [n for n in libraries if samples.get(n)]
    runs = [samples[n] for n in names]
    medians = [statistics.median(r) for r in runs]
    low = [m - min(r) for m, r in zip(medians, runs)]
    high = [max(r) - m for m, r in zip(medians, runs)]
    positions = [libraries.index(n) for n in names]
    ax.barh(
        positions,
        medians,
        xerr=[low, high],
        color=[COLOURS.get(n, "#999") for n in names],
        error_kw={"elinewidth": 1, "capsize": 3, "ecolor": "#333"},
        height=0.72,
    )
    top, bottom = max(m + h for m, h in zip(medians, high)), min(medians)
    log = bottom > 0 and top / bottom > LOG_SPAN
    if log:
        ax.set_xscale("log")
        left = bottom / 2  # the largest bar ends at 57% of the width, as below
        ax.set_xlim(left, left * (top / left) ** ROOM)
    else:
        ax.set_xlim(0, top * ROOM)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _number(v)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_locator(
        ticker.LogLocator(numticks=4) if log else ticker.MaxNLocator(3)
    )
    for y, name, median, h in zip(positions, names, medians, high):
        ratio = results.ratio(w.name, name)
        label = _number(median) + ("" if ratio is None else f"  {_times(ratio)}")
        strong = name == "cython"
        ax.text(
            (median + h) * (1.25 if log else 1) + (0 if log else top * 0.05),
            y,
            label,
            va="center",
            fontsize=13 if strong else 11.5,
            weight="bold" if strong else "normal",
            color="#000" if strong else "#333",
        )
    ax.set_yticks(range(len(libraries)))
    few = len(libraries) <= 4  # room for names on two lines
    ax.set_yticklabels(
        [_name(n, few) for n in libraries] if first else [],
        fontsize=13 if few else 10,
    )
    ax.set_ylim(len(libraries) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=10, colors="#555")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for y, name in enumerate(libraries):
        if name not in names and name in results.notes.get(w.name, {}):
            ax.text(ax.get_xlim()[0], y, "  no such call", va="center", color="#777")
    better = "lower is better" if w.lower_is_better else "higher is better"
    title = HEADLINE[w.name][0] if w.name in HEADLINE else w.name
    ax.set_title(title, loc="left", fontsize=15, weight="bold", pad=24)
    ax.text(
        0, 1.025, f"{w.unit} · {better}" + (" · log" if log else ""),
        transform=ax.transAxes, fontsize=11, color="#444",
    )  # fmt: skip


def _headline_title(results: Results, rows: Sequence[Workload]) -> str:
    """A title that states the result: compiled socs_tcp's first three ratios."""
    if "cython" not in results.libraries or results.baseline != "socs":
        return "socs_tcp beside the plain socket"
    parts = [
        f"{_times(ratio)} {HEADLINE[w.name][1]}"
        for w in rows
        if w.name in HEADLINE and (ratio := results.ratio(w.name, "cython"))
    ]
    return "socs_tcp vs socs.tcp: " + ", ".join(parts[:3])


def _rest_title(results: Results, rows: Sequence[Workload]) -> str:
    return "socs_tcp bench: every workload, every library measured"


def _subtitle(results: Results) -> str:
    """Machine, versions and date: what the numbers belong to."""
    cpus = os.cpu_count()
    return (
        f"socs_tcp {__version__} on CPython {platform.python_version()}, "
        f"{platform.machine()}, {cpus} CPU{'s' if cpus != 1 else ''}; "
        f"{datetime.date.today().isoformat()}; median of {results.scale.repeats} "
        f"interleaved runs per bar; ratios to {clients.LIBRARIES[results.baseline][0]}"
    )


def _name(library: str, two_lines: bool = True) -> str:
    names = NAMES if two_lines else SHORT_NAMES
    return names.get(library) or clients.LIBRARIES[library][0]


def _times(ratio: float) -> str:
    """A ratio as the label shows it: 0.52×, 1.6×, 12×."""
    return (
        f"{ratio:.2g}×"
        if ratio < 1
        else f"{ratio:.1f}×"
        if ratio < 10
        else f"{ratio:.0f}×"
    )


def _number(value: float) -> str:
    """The table's number format (k, M), without matplotlib's offsets."""
    from socs_tcp.bench.run import _number as table_number

    return table_number(value) if value else "0"
