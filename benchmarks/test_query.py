"""Request/reply on one connection: round trips, CPU per query, syscalls."""

import time

import pytest


def test_query(measure):
    measure("query")


@pytest.mark.benchmark(timer=time.process_time)  # CPU time, not wall time
def test_cpu(measure):
    measure("cpu")


def test_syscalls(measure):
    measure("syscalls")
