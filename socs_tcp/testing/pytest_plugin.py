"""The pytest plugin: the ``fake_device`` fixture and transcripts on failure.

Registered through the ``pytest11`` entry point, so it is active wherever
socs_tcp is installed; nothing to add to a ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, Callable

import pytest

from socs_tcp.testing import device as _device
from socs_tcp.testing.device import FakeDevice
from socs_tcp.testing.responses import Responses

__all__ = ["fake_device", "pytest_runtest_makereport", "pytest_runtest_protocol"]

#: Every device a test started, with the fixture or not.
_DEVICES = pytest.StashKey[list[FakeDevice]]()


@pytest.fixture
def fake_device(request: pytest.FixtureRequest) -> Iterator[Callable[..., FakeDevice]]:
    """Start fake devices: ``fake_device(responses, **options)``.

    Takes the arguments of :class:`~socs_tcp.testing.FakeDevice` and returns
    a started device; ``fake_device(script=[...])`` starts one that serves a
    strict script. Every device is stopped at teardown, where an exception
    raised by one of its response callables, or a
    :class:`~socs_tcp.testing.ScriptError` (a command out of order, steps
    never used), fails the test. When
    the test fails, its report includes the transcript of each device it
    started (with this fixture or not).

    Parameters
    ----------
    request : pytest.FixtureRequest
        The requesting test.

    Yields
    ------
    callable
        ``fake_device(responses, **options) -> FakeDevice``.
    """
    devices: list[FakeDevice] = []

    def start(responses: Responses | None = None, **options: Any) -> FakeDevice:
        device = FakeDevice(responses, **options)
        devices.append(device)
        return device

    yield start
    for device in devices:
        device.stop(check=False)
    for device in devices:
        if device.errors:
            raise device.errors[0]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, Any, None]:
    """Note every ``FakeDevice`` started while ``item`` runs.

    Parameters
    ----------
    item : pytest.Item
        The test.
    nextitem : pytest.Item or None
        The test after it.

    Yields
    ------
    None
        To pytest, which runs the test.
    """
    started: list[FakeDevice] = []
    item.stash[_DEVICES] = started
    observe = started.append
    _device._observers.append(observe)
    try:
        yield
    finally:
        _device._observers.remove(observe)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Add the transcript of each fake device to a failing test's report.

    Once the teardown's report is made, the test's devices are let go, so
    their transcripts do not stay in memory until pytest exits.

    Parameters
    ----------
    item : pytest.Item
        The test.
    call : pytest.CallInfo
        The phase that ran.

    Yields
    ------
    None
        To pytest, which makes the report.
    """
    outcome = yield
    report = outcome.get_result()
    devices = item.stash.get(_DEVICES, [])
    if report.failed:
        for device in devices:
            report.sections.append(
                (f"fake device transcript ({call.when})", device.transcript_text())
            )
    if call.when == "teardown":
        devices.clear()
