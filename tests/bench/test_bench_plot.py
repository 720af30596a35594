"""``bench --plot``: a 16:9 PNG for a slide, drawn from a run's results."""

import struct

from socs_tcp.bench import workloads
from socs_tcp.bench.plot import plot
from socs_tcp.bench.run import Results

LIBRARIES = ["cython", "python", "socs", "socket", "c", "asyncio", "pyserial"]


def _results():
    """Every workload, every library, three runs each, one cell with no call."""
    results = Results(list(workloads.WORKLOADS), LIBRARIES, workloads.QUICK)
    for i, w in enumerate(results.workloads):
        results.samples[w.name] = {
            name: [(1 + i) * (j + 1) * 10.0**k for k in (2, 2.01, 1.99)]
            for j, name in enumerate(LIBRARIES)
            if not (w.name == "stream" and name == "pyserial")
        }
        results.notes[w.name] = {"pyserial": "-"} if w.name == "stream" else {}
    return results


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_16_by_9_headline_and_every_row_beside_it(tmp_path):
    out = tmp_path / "bench.png"
    written = plot(_results(), str(out))
    assert written == [str(out), str(tmp_path / "bench-all.png")]
    for path in written:
        width, height = _png_size(tmp_path / path)
        assert width * 9 == height * 16 and width >= 1280


def test_plot_without_the_rest_writes_only_the_headline(tmp_path):
    out = tmp_path / "bench.png"
    assert plot(_results(), str(out), rest=False) == [str(out)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.png"]
