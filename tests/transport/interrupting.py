"""Calls made again and again while a signal handler raises inside them."""

import gc
import signal
import time

from socs_tcp.errors import TransportTimeout


class Interrupted(Exception):
    """What the handler raises."""


def call_while_interrupted(call, done, interval, seconds):
    """Call ``call()`` until ``done(results)`` while SIGALRM raises in it.

    Every ``interval`` seconds SIGALRM's handler raises :class:`Interrupted`
    once, if a call is in progress; the call is then made again. Stops after
    ``seconds`` whatever happens, or at a ``TransportTimeout`` (the stream
    went astray; the caller's checks say how). Returns the results, in
    order, and how many calls were interrupted.
    """
    inside = [False]

    def handler(signum, frame):
        if inside[0]:  # only inside the try below
            inside[0] = False
            raise Interrupted

    results, interrupted = [], 0
    # A garbage collection inside the loop could run a weakref callback
    # (another test's interface leaving a WeakSet) that the handler then
    # interrupts: Python reports that as an unraisable exception. Collect
    # now, and not during the loop.
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    previous = signal.signal(signal.SIGALRM, handler)
    give_up = time.monotonic() + seconds
    signal.setitimer(signal.ITIMER_REAL, interval, interval)
    try:
        while not done(results) and time.monotonic() < give_up:
            try:
                inside[0] = True
                # list.extend appends in C: nothing is lost in the loop itself.
                results.extend(map(lambda _: call(), (0,)))
                inside[0] = False
            except TransportTimeout:
                inside[0] = False
                break
            except Interrupted:
                interrupted += 1
    finally:
        inside[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if collecting:
            gc.enable()
    return results, interrupted
