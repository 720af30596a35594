"""Turn :class:`~socs_tcp.bench.runner.Results` into a table, JSON or a chart."""

import dataclasses
import math

from socs_tcp.bench import targets as targets_module
from socs_tcp.bench.environment import summary

#: Version of the JSON layout; bump it when a key changes meaning.
JSON_FORMAT = "socs_tcp-bench/1"

_NAME_WIDTH = 12


def number(value):
    """``value`` in three or four significant figures, with k/M/G past 10,000."""
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 1e4:
        for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= limit:
                scaled = value / limit
                return f"{scaled:.{0 if abs(scaled) >= 100 else 1}f}{suffix}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(value):
    """A ratio as ``1.23x``."""
    return "-" if value is None else f"{value:.2f}x"


def _cell(results, row, impl):
    if row.skipped:
        return "skipped"
    cell = row.cells.get(impl.name)
    if cell is None:
        return "n/a"
    if cell.error:
        return "error"
    return f"{number(cell.median)} {ratio(results.ratio(row.workload.name, impl.name))}"


def _unit(workload):
    return workload.unit + ("" if workload.higher_is_better else " (lower)")


def table(results):
    """The side-by-side table, with its legend, notes and target verdicts.

    Parameters
    ----------
    results : Results
        One benchmark run.

    Returns
    -------
    str
        Plain text, lines of at most about 100 characters.
    """
    impls = [i for i in results.implementations if i.name not in results.unavailable]
    base = next(i.label for i in results.implementations if i.name == results.baseline)
    head = ["workload", "unit"] + [i.label for i in impls]
    body = [
        [row.workload.name, _unit(row.workload)]
        + [_cell(results, row, impl) for impl in impls]
        for row in results.rows
    ]
    widths = [max(len(r[c]) for r in [head] + body) for c in range(len(head))]
    lines = [
        f"socs_tcp benchmark: {summary(results.environment)}",
        f"each cell: median of {results.scale.repeats} interleaved runs, and its "
        f"ratio to {base}",
    ]
    pinned = [r.workload.name for r in results.rows if r.workload.shared_cpu]
    if pinned and results.shared_cpu is not None:
        lines.append(
            f"{', '.join(pinned)}: client and peer share CPU {results.shared_cpu} "
            "(request/reply: they never run at once); other rows run unpinned"
        )
    lines.append("")
    for r in [head] + body:
        left = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        right = [v.rjust(w) for v, w in zip(r[2:], widths[2:])]
        lines.append("  ".join(left + right).rstrip())
    lines.append("")
    lines += _legend(results, impls)
    lines += _notes(results)
    lines += _verdicts(results)
    lines.append(f"finished in {results.seconds:.1f} s")
    return "\n".join(lines)


def _legend(results, impls):
    out = []
    for row in results.rows:
        w = row.workload
        out.append(f"{w.name.ljust(_NAME_WIDTH)} {w.title}")
        for impl in impls:
            if impl.name in w.apis:
                out.append(f"{'':{_NAME_WIDTH}}   {impl.label}: {w.apis[impl.name]}")
    return out + [""]


def _notes(results):
    out = []
    for name, why in results.unavailable.items():
        label = next(i.label for i in results.implementations if i.name == name)
        out.append(f"not run: {label}: {why}")
    for row in results.rows:
        if row.skipped:
            out.append(f"skipped: {row.workload.name}: {row.skipped}")
    for workload, impl, error in results.errors:
        out.append(f"error: {workload} on {impl}: {error}")
    syscalls = results.row("syscalls")
    if syscalls and not syscalls.skipped:
        for name, cell in syscalls.cells.items():
            if cell.details:
                calls = ", ".join(f"{k} {v:.2g}" for k, v in cell.details.items())
                out.append(f"syscalls per query, {name}: {calls}")
    return out + [""] if out else out


def _verdicts(results):
    out = ["targets:"]
    for t in targets_module.evaluate(results):
        if t["met"] is None:
            verdict, measured = "n/a", "not measured"
        else:
            verdict = "met" if t["met"] else "MISSED"
            # Three decimals, so a verdict is never contradicted by rounding.
            measured = f"{t['value']:.3f}" + ("x" if t["ratio"] else "")
        out.append(f"  {verdict:6}  {t['description']}: {measured}")
    return out + [""]


def to_json(results, settings=None):
    """A JSON-ready dict of everything measured, with the environment.

    Parameters
    ----------
    results : Results
        One benchmark run.
    settings : dict, optional
        How the run was asked for (command-line options).
    """
    rows = []
    for row in results.rows:
        w = row.workload
        cells = {}
        for name, cell in row.cells.items():
            cells[name] = {
                "median": cell.median,
                "ratio": results.ratio(w.name, name),
                "samples": cell.samples,
                "details": cell.details,
                "error": cell.error,
            }
        rows.append(
            {
                "name": w.name,
                "title": w.title,
                "group": w.group,
                "unit": w.unit,
                "higher_is_better": w.higher_is_better,
                "apis": w.apis,
                "skipped": row.skipped,
                "seconds": row.seconds,
                "results": cells,
            }
        )
    return {
        "format": JSON_FORMAT,
        "environment": results.environment,
        "settings": dict(settings or {}, scale=dataclasses.asdict(results.scale)),
        "baseline": results.baseline,
        "shared_cpu": results.shared_cpu,
        "implementations": {
            i.name: {
                "label": i.label,
                "available": i.name not in results.unavailable,
                "note": results.unavailable.get(i.name),
            }
            for i in results.implementations
        },
        "workloads": rows,
        "targets": targets_module.evaluate(results),
        "seconds": results.seconds,
    }


def plot(results, path):
    """Save a bar chart of each implementation's gain over the baseline.

    Every bar reads "higher is better": a lower-is-better value (CPU,
    system calls) is drawn as baseline / value.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'socs-tcp[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "--plot needs matplotlib: pip install 'socs-tcp[plot]' "
            f"(or pip install matplotlib) ({exc})"
        ) from None
    # The baseline is the 1x line, not a bar.
    impls = [
        i
        for i in results.implementations
        if i.name not in results.unavailable and i.name != results.baseline
    ]
    rows = [r for r in results.rows if not r.skipped]
    base = next(i.label for i in results.implementations if i.name == results.baseline)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.8 * max(1, len(rows))))
    height = 0.8 / max(1, len(impls))
    gains_all = []
    for k, impl in enumerate(impls):
        ys, gains = [], []
        for i, row in enumerate(rows):
            r = results.ratio(row.workload.name, impl.name)
            if not r:
                continue
            gains.append(r if row.workload.higher_is_better else 1 / r)
            ys.append(i + k * height)
        # Bars grow from 1x: right is a gain, left a loss.
        ax.barh(ys, [g - 1 for g in gains], left=1, height=height, label=impl.label)
        for y, g in zip(ys, gains):
            ax.text(
                g,
                y,
                f" {g:.2f}x ",
                va="center",
                ha="left" if g >= 1 else "right",
                fontsize=6,
            )
        gains_all += gains
    ax.set_yticks([i + height * (len(impls) - 1) / 2 for i in range(len(rows))])
    ax.set_yticklabels([r.workload.name for r in rows])
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    low = min(gains_all + [1]) / 1.6
    high = max(gains_all + [1]) * 1.6
    ax.set_xlim(low, high)
    ticks = [t for t in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if low <= t <= high]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(f"gain over {base} (higher is better; log scale)")
    ax.set_title(summary(results.environment), fontsize=8)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
