"""The benchmark suite behind ``python -m socs_tcp bench`` and ``benchmarks/``.

Modules, one job each:

``peer``
    The loopback device, in a process of its own (echo, stream, lines).
``impls``
    The implementations compared, each driving the workloads' inner loops
    through its own API.
``workloads``
    What is measured: the single definition the CLI and pytest share.
``syscalls``
    System calls per round trip, counted with ``strace``.
``placement``
    Which CPU the client and the peer run on.
``runner``
    Runs the workloads side by side and keeps every sample.
``targets``
    The performance goals, checked against a run.
``report``
    The table, the JSON and the chart.
``environment``
    What machine and software a run was on.
"""
