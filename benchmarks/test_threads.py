"""N devices polled from N threads: aggregate round trips."""

import pytest


@pytest.mark.parametrize("n", [1, 4, 16])
def test_threads(measure, n):
    measure(f"threads-{n}")
