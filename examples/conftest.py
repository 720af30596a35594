"""Runs each example test once per transport (python, cython), as in tests/.

The examples' drivers subclass ``socs_tcp.TCPInterface`` as any driver does;
this fixture points that class at each transport in turn.
"""

import importlib.util

import pytest

from socs_tcp import TCPInterface, _backend

BACKENDS = ["python"] + (
    ["cython"] if importlib.util.find_spec("socs_tcp._transport_c") else []
)


@pytest.fixture(autouse=True, params=BACKENDS, ids=["py", "cy"][: len(BACKENDS)])
def backend(request, monkeypatch):
    """The transport every ``TCPInterface`` in the test uses."""
    module = _backend.load(request.param)
    monkeypatch.setattr(TCPInterface, "_transport_type", module.Transport)
    return module
