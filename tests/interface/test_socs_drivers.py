"""socs 0.6.4's eight drivers, unchanged, on socs.tcp and on socs_tcp.

Each driver module is imported afresh with ``socs.tcp.TCPInterface``
replaced by the class under test, then polled through each scenario of
:mod:`socs_tcp.testing.instruments.socs_drivers` against the emulation of
its instrument. A scenario runs once per (driver, class) in a worker
process and is shared by the tests that look at it.
"""

import functools

import pytest

from socs_tcp.interface import TCPInterface
from socs_tcp.testing.instruments.socs_drivers import DRIVERS, SCENARIOS, Outcome, run
from tests.conftest import BACKENDS, IDS, import_socs

socs = import_socs()


@functools.cache
def _base(backend):
    """The class the drivers subclass: socs's own, or socs_tcp on ``backend``."""
    if backend == "socs":
        return socs.tcp.TCPInterface
    from socs_tcp import _backend

    transport = _backend.load(backend).Transport
    return type("TCPInterface", (TCPInterface,), {"_transport_type": transport})


@functools.cache
def outcome(driver, scenario, backend):
    """The shared run of ``driver`` through ``scenario`` on ``backend``."""
    return run(driver, scenario, _base(backend))


ALL = [(d, s) for d in DRIVERS for s in SCENARIOS]


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_normal_path_is_the_same_on_every_class(driver):
    results = {b: outcome(driver, "normal", b) for b in ["socs", *BACKENDS]}
    for backend, result in results.items():
        assert result.outcomes == [Outcome.OK] * len(result.outcomes), backend
        assert result.errors == [], backend
    wire = {b: (r.received, r.connections) for b, r in results.items()}
    for backend in BACKENDS:
        assert wire[backend] == wire["socs"], f"{backend}: other bytes on the wire"
    assert results["socs"].connections == 1


@pytest.mark.parametrize(("driver", "scenario"), ALL, ids=[f"{d}-{s}" for d, s in ALL])
def test_socs_tcp_is_never_worse_than_socs_tcp_class(driver, scenario):
    reference = outcome(driver, scenario, "socs")
    for backend in BACKENDS:
        result = outcome(driver, scenario, backend)
        label = f"{IDS[backend]}: {result.outcomes} vs socs {reference.outcomes}"
        assert result.failed <= reference.failed, label
        assert result.other <= reference.other, f"{label}; {result.errors}"
        assert result.stale <= reference.stale, label


# Where socs_tcp does better, by design: a connection the device closed is
# replaced before the next command goes out.
RECOVERS = ["cryomech_cpa", "pfeiffer_tpg366", "kikusui_pcr500ma", "kikusui_pmx"]


@pytest.mark.parametrize("driver", [*RECOVERS, "lakeshore372"])
@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_idle_closes_cost_no_poll_on_socs_tcp(driver, backend):
    assert outcome(driver, "idle_close", "socs").failed >= 2
    assert outcome(driver, "idle_close", backend).outcomes == [Outcome.OK] * 5


@pytest.mark.parametrize("driver", [*RECOVERS, "devantech_ds378", "lakeshore372"])
@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_a_connection_closed_mid_command_costs_that_poll_only(driver, backend):
    result = outcome(driver, "closed_mid_command", backend)
    assert result.failed <= 1, result.outcomes
    assert result.outcomes[2:] == [Outcome.OK] * 3
    assert result.failed < outcome(driver, "closed_mid_command", "socs").failed


CONNECTION_LOST = [
    "restart",
    "power_cycle",
    "idle_close",
    "unreachable_at_start",
    "outage",
    "closed_mid_command",
]


@pytest.mark.parametrize("scenario", CONNECTION_LOST)
@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_pmx_driver_with_its_own_close_reconnects(scenario, backend):
    # PMX defines close() as self.comm.close(): it must never be what the
    # interface calls to reset, or comm None makes every send() raise.
    result = outcome("kikusui_pmx", scenario, backend)
    assert not any("AttributeError" in e for e in result.errors), result.errors
    assert result.outcomes[-1] == Outcome.OK, result.outcomes


@pytest.mark.parametrize("driver", ["galil_axis", "dlc_smart"])
@pytest.mark.parametrize("backend", ["socs", *BACKENDS])
def test_drivers_that_select_on_comm_fail_outside_connection_error(driver, backend):
    # Documented in docs/guide/migrating.md with the fix: select([None])
    # raises TypeError on every class, before send() could reconnect.
    result = outcome(driver, "unreachable_at_start", backend)
    assert result.outcomes == [Outcome.OTHER] * 5
    assert all("TypeError" in e for e in result.errors)


@pytest.mark.parametrize("backend", ["socs", *BACKENDS])
def test_dlc_smart_driver_would_loop_forever_on_a_closed_connection(backend):
    result = outcome("dlc_smart", "closed_mid_command", backend)
    assert any("Hung" in e for e in result.errors), result.errors


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize("backend", BACKENDS, ids=[IDS[b] for b in BACKENDS])
def test_no_stale_reply_after_timeout(driver, backend):
    # After a receive timed out, the next send() resynchronises first
    # (resync="reconnect" by default): the reply still owed to the poll
    # that timed out is never taken for a later poll's, unchanged driver
    # or not.
    result = outcome(driver, "late_reply", backend)
    assert result.outcomes[1] != Outcome.OK  # the late poll itself timed out
    assert result.stale == 0, result.outcomes
