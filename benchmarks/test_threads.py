"""Threads: N devices polled from N threads, and the GIL during a wait."""

import pytest


@pytest.mark.parametrize("n", [1, 4, 16])
def test_threads(measure, n):
    measure(f"threads-{n}")


def test_gil(measure):
    # A pure-Python thread's speed beside a receive waiting in another.
    measure("gil")
