"""Request/reply on one connection: round trips, CPU and syscalls per query."""

import time

import pytest


def test_query(measure):
    measure("query")


@pytest.mark.benchmark(timer=time.process_time)  # CPU time, not wall time
def test_cpu(measure):
    measure("cpu")


def test_syscalls(measure):
    measure("syscalls")


def test_syscalls_safe(measure):
    # query() against the select() drain drivers hand-roll before a command.
    measure("syscalls-safe")
