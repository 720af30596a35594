"""Where the client and the peer run: one CPU for a ping-pong, else anywhere.

A request/reply on one connection is a ping-pong: the client and the peer
never run at the same time, so sharing a CPU costs them nothing, while
putting them on two CPUs adds a cross-CPU wake-up to every message. That
wake-up is a property of the machine, not of the code under test, and on a
virtual machine it can be slow and erratic (over 100 us where a same-CPU
switch takes 8 us), and the scheduler flips between the two placements
from one run to the next. Pinning both to one CPU keeps it out of the
numbers. Streams and threads run unpinned, so the peer and the client's
threads can use every core at once.
"""

import contextlib
import logging
import os

logger = logging.getLogger("socs_tcp.bench")


def shared_cpu():
    """The CPU pinned workloads share (the last usable one), or None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


@contextlib.contextmanager
def placed(pids, cpu):
    """Pin this thread (and so its future threads and children) and ``pids``.

    Parameters
    ----------
    pids : list of int
        Other processes (the peer) to pin alongside.
    cpu : int or None
        The CPU; None leaves everything where it is.
    """
    if cpu is None:
        yield
        return
    saved = {}
    try:
        try:
            for pid in [0, *pids]:
                cpus = os.sched_getaffinity(pid)
                os.sched_setaffinity(pid, {cpu})
                saved[pid] = cpus
            logger.debug("client and peers %s pinned to CPU %d", pids, cpu)
        except OSError as exc:  # not allowed here: measure unpinned
            logger.warning("cannot pin to CPU %d, running unpinned: %s", cpu, exc)
        yield
    finally:
        for pid, cpus in saved.items():
            try:
                os.sched_setaffinity(pid, cpus)
            except OSError:
                pass  # the peer has exited
