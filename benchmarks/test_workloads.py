"""Every workload of ``python -m socs_tcp bench``, on every library."""

import pytest

from socs_tcp.bench import workloads


@pytest.mark.parametrize("name", [w.name for w in workloads.WORKLOADS])
def test_workload(measure, name):
    measure(name)
