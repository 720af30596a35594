"""Run workloads on every implementation, side by side, and keep the samples.

Runs are interleaved: each repeat runs every implementation once (every
workload of a group, too), in an order that rotates from one repeat to the
next, so a noisy moment of a shared machine falls on all of them alike. Each
cell reports the median of its runs.
"""

import contextlib
import dataclasses
import logging
import statistics
import time

from socs_tcp.bench import impls as impls_module
from socs_tcp.bench import workloads as workloads_module
from socs_tcp.bench.environment import environment
from socs_tcp.bench.peer import Peer
from socs_tcp.bench.placement import placed, shared_cpu

logger = logging.getLogger("socs_tcp.bench")


@dataclasses.dataclass
class Cell:
    """One implementation on one workload.

    Attributes
    ----------
    samples : list of float
        The value of each timed run.
    details : dict
        Anything else measured (the system-call breakdown).
    error : str or None
        Why it failed, if it did.
    """

    samples: list = dataclasses.field(default_factory=list)
    details: dict = dataclasses.field(default_factory=dict)
    error: str = None

    @property
    def median(self):
        """Median of the samples, or None."""
        return statistics.median(self.samples) if self.samples else None


@dataclasses.dataclass
class Row:
    """One workload: a cell per implementation that ran, or why it did not.

    Attributes
    ----------
    workload : Workload
        What was measured.
    cells : dict
        :class:`Cell` by implementation name.
    skipped : str or None
        Why the workload could not run here (no ``strace``).
    seconds : float
        Wall-clock time the row took, set-up included.
    """

    workload: object
    cells: dict = dataclasses.field(default_factory=dict)
    skipped: str = None
    seconds: float = 0.0


@dataclasses.dataclass
class Results:
    """Everything one benchmark run measured.

    Attributes
    ----------
    rows : list of Row
        One per workload, in suite order.
    implementations : list of Implementation
        Every implementation, available or not.
    unavailable : dict
        Why an implementation did not run, by name.
    scale : Scale
        How much work each run did.
    environment : dict
        The machine and software (see :mod:`socs_tcp.bench.environment`).
    seconds : float
        Wall-clock time of the whole run.
    shared_cpu : int or None
        The CPU request/reply workloads were pinned to, if any.
    """

    rows: list
    implementations: list
    unavailable: dict
    scale: object
    environment: dict
    seconds: float = 0.0
    shared_cpu: int = None

    @property
    def baseline(self):
        """Name of the implementation ratios are taken to."""
        return "socs" if "socs" not in self.unavailable else "plain"

    def row(self, name):
        """The row of the workload called ``name``, or None."""
        for row in self.rows:
            if row.workload.name == name:
                return row
        return None

    def median(self, workload, impl):
        """Median of ``impl`` on ``workload``, or None."""
        row = self.row(workload)
        cell = row.cells.get(impl) if row else None
        return cell.median if cell else None

    def ratio(self, workload, impl, against=None):
        """``impl``'s median over ``against``'s (the baseline by default)."""
        value = self.median(workload, impl)
        base = self.median(workload, against or self.baseline)
        if value is None or not base:
            return None
        return value / base

    @property
    def errors(self):
        """``(workload, impl, error)`` for every cell that failed."""
        return [
            (row.workload.name, name, cell.error)
            for row in self.rows
            for name, cell in row.cells.items()
            if cell.error
        ]


def _time_run(session):
    session.prepare()
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        work = session.run()
        wall1, cpu1 = time.perf_counter(), time.process_time()
    finally:
        session.finish()
    return work, wall1 - wall0, cpu1 - cpu0


def _groups(workloads):
    """Consecutive workloads of one group, which are measured together."""
    groups = []
    for workload in workloads:
        if groups and groups[-1][0].group == workload.group:
            groups[-1].append(workload)
        else:
            groups.append([workload])
    return groups


def _open(workload, impl, address, scale, stack, cell):
    """Open (and warm up) a session; on failure note it in ``cell``."""
    try:
        session = stack.enter_context(workload.session(impl, address, scale))
        if workload.fixed_repeats is None:
            _time_run(session)  # warm-up, not kept
        return session
    except Exception as exc:
        logger.exception("%s on %s failed to start", workload.name, impl.name)
        cell.error = f"{type(exc).__name__}: {exc}"
        return None


def _run_group(group, impls, address, scale, report):
    """Measure the workloads of ``group`` on every implementation in ``impls``.

    Every (workload, implementation) pair of the group is a cell; each repeat
    runs every cell once, so rows compared with each other (1 thread against
    16) see the same moments of the machine too.
    """
    rows = [Row(workload) for workload in group]
    repeats = max(w.repeats(scale) for w in group)
    with contextlib.ExitStack() as stack:
        sessions = {}
        for row in rows:
            for impl in impls:
                cell = row.cells[impl.name] = Cell()
                session = _open(row.workload, impl, address, scale, stack, cell)
                if session is not None:
                    sessions[row.workload, impl.name] = (session, cell)
        keys = list(sessions)
        total, done = repeats * len(keys), 0
        for rep in range(repeats):
            shift = rep % len(keys) if keys else 0
            for workload, name in keys[shift:] + keys[:shift]:
                session, cell = sessions[workload, name]
                if cell.error is None and rep < workload.repeats(scale):
                    try:
                        work, wall, cpu = _time_run(session)
                        cell.samples.append(workload.value(work, wall, cpu))
                        cell.details.update(getattr(session, "details", {}))
                    except Exception as exc:
                        logger.exception("%s on %s failed", workload.name, name)
                        cell.error = f"{type(exc).__name__}: {exc}"
                done += 1
                report(done=done, total=total)
    return rows


def run(
    workloads=None,
    scale=workloads_module.DEFAULT,
    progress=None,
    impls=None,
    pin=True,
):
    """Run ``workloads`` on every available implementation.

    Parameters
    ----------
    workloads : list of Workload, optional
        Defaults to the whole suite.
    scale : Scale, optional
        How much work; ``workloads.DEFAULT`` or ``workloads.QUICK``.
    progress : callable, optional
        Called as ``progress(title=..., index=..., count=...)`` when a group
        of workloads starts, and ``progress(done=..., total=...)`` after each
        timed run.
    impls : list of Implementation, optional
        Defaults to all of them; the unavailable ones are left out and noted.
    pin : bool, optional
        Run the request/reply workloads with the client and the peer on one
        CPU (see :mod:`socs_tcp.bench.placement`). Defaults to True.

    Returns
    -------
    Results
    """
    report = progress or (lambda **info: None)
    start = time.perf_counter()
    workloads = workloads_module.select() if workloads is None else workloads
    impls = impls_module.implementations() if impls is None else impls
    unavailable = {}
    for impl in impls:
        try:
            impl.check()
        except impls_module.Unavailable as exc:
            unavailable[impl.name] = str(exc)
    ready = [impl for impl in impls if impl.name not in unavailable]
    results = Results([], impls, unavailable, scale, environment())
    results.shared_cpu = shared_cpu() if pin else None
    groups = _groups(workloads)
    peers = {}
    try:
        for index, group in enumerate(groups, 1):
            began = time.perf_counter()
            title = group[0].name + ": " + group[0].title
            if len(group) > 1:
                title = f"{group[0].group}: " + ", ".join(w.name for w in group)
            report(title=title, index=index, count=len(groups))
            try:
                for workload in group:
                    workload.check()
            except RuntimeError as exc:
                results.rows += [Row(w, skipped=str(exc)) for w in group]
                continue
            mode = group[0].peer_mode
            if mode not in peers:
                peers[mode] = Peer(mode)
            cpu = results.shared_cpu if group[0].shared_cpu else None
            with placed([peers[mode].pid], cpu):
                rows = _run_group(group, ready, peers[mode].address, scale, report)
            for row in rows:
                row.seconds = (time.perf_counter() - began) / len(rows)
            results.rows += rows
    finally:
        for peer in peers.values():
            peer.close()
    results.seconds = time.perf_counter() - start
    return results
