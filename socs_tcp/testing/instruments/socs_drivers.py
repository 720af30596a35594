"""socs's own drivers, unchanged, polling the emulations through failures.

Each of socs's eight ``TCPInterface`` drivers is imported afresh with
``socs.tcp.TCPInterface`` replaced by the class under test (socs's own, or
a ``socs_tcp.TCPInterface``), so the driver's code runs as written on
either. :func:`run` polls one driver through one scenario, as an agent's
acquisition loop would, and tells how each poll went::

    from socs_tcp.testing.instruments.socs_drivers import run
    result = run("kikusui_pcr500ma", "late_reply", TCPInterface)
    result.failed, result.stale, result.other

Needs ``socs`` (``pip install --no-deps socs``) and NumPy, which two drivers
import. The drivers' own waits are shortened (``time.sleep`` to at most
10 ms, ``select`` to at most 20 ms, in the driver's module only) so a run
takes a fraction of a second; the timeouts they are given are short too.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import select
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from socs_tcp.testing.instruments import instrument
from socs_tcp.testing.instruments.base import Instrument, InstrumentDevice

__all__ = [
    "DRIVERS",
    "SCENARIOS",
    "Driver",
    "Hung",
    "Outcome",
    "Result",
    "load_driver",
    "run",
]

#: Seconds each driver is told to wait (its ``timeout``).
TIMEOUT = 0.2
#: How late the late reply is: past the driver's timeout.
LATE = 0.3
#: Polls per scenario.
POLLS = 5
#: Seconds between the two segments of a split reply.
SPLIT_GAP = 0.05
#: Seconds an agent's loop rests before a poll (longer than socs_tcp's
#: ``idle_check``, as any real polling period is).
PERIOD = 0.12
#: Seconds an instrument takes to reply, where the order of arrivals matters.
REPLY_TIME = 0.03
#: ``recv()`` returning ``b""`` this many times in a row is a driver stuck
#: in a loop on a closed connection.
EMPTY_READS = 200


class Hung(RuntimeError):
    """The driver kept reading a closed connection: it would loop forever."""


@dataclass(frozen=True)
class Driver:
    """One socs driver: where it lives, how it starts, what one poll is.

    Attributes
    ----------
    name : str
        The instrument's name in :data:`socs_tcp.testing.instruments.INSTRUMENTS`.
    module, cls : str
        The driver's module in socs, and its class.
    poll : callable
        ``poll(driver) -> float``: one acquisition, as the agent does it.
    reading : callable
        ``reading(n) -> float``: the instrument's value for poll ``n``;
        each is told from the others even by half its reply.
    acks : int
        Replies a poll gets before its data (the TPG 366's ACK).
    """

    name: str
    module: str
    cls: str
    poll: Callable[[Any], float]
    reading: Callable[[int], float]
    acks: int = 0


def _ptc_poll(driver: Any) -> float:
    flag, data = driver.get_data()
    if flag:
        raise _Bad("the reply could not be decoded")
    return float(data["Coolant_In_Temp"])


class _Bad(Exception):
    """A driver said its reply was bad without raising (PTC's flag)."""


DRIVERS: dict[str, Driver] = {
    d.name: d
    for d in (
        Driver(
            "cryomech_cpa",
            "socs.agents.cryomech_cpa.drivers",
            "PTC",
            _ptc_poll,
            lambda n: 18.5 + n,
        ),
        Driver(
            "pfeiffer_tpg366",
            "socs.agents.pfeiffer_tpg366.drivers",
            "TPG366",
            lambda d: d.read_pressure(1),
            lambda n: 1e-3 * (n + 1),
            acks=1,
        ),
        Driver(
            "devantech_ds378",
            "socs.agents.devantech_dS378.drivers",
            "DS378",
            lambda d: d.get_analog()[0],
            lambda n: 500 + n,
        ),
        Driver(
            "kikusui_pcr500ma",
            "socs.agents.kikusui_pcr500ma.drivers",
            "PCR500MA",
            lambda d: d.meas_volt_ac(),
            lambda n: 10.25 + n,
        ),
        Driver(
            "kikusui_pmx",
            "socs.agents.hwp_pmx.drivers.PMX_ethernet",
            "PMX",
            lambda d: d.meas_voltage()[1],
            lambda n: 12.25 + n,
        ),
        Driver(
            "galil_axis",
            "socs.agents.galil_axis.drivers",
            "GalilAxis",
            lambda d: d.get_relative_position("A"),
            lambda n: 1000.25 + n,
        ),
        Driver(
            "dlc_smart",
            "socs.agents.fls.drivers",
            "DLCSmart",
            lambda d: d.get_actual_frequency(),
            lambda n: 300.25 + n,
        ),
        Driver(
            "lakeshore372",
            "socs.Lakeshore.Lakeshore372",
            "LS372",
            lambda d: d.get_temp(unit="kelvin", chan=1),
            lambda n: 0.0125 + 0.01 * n,
        ),
    )
}


class Outcome:
    """How one poll went (the values of :attr:`Result.outcomes`)."""

    OK = "ok"
    #: Returned the value of an earlier poll.
    STALE = "stale"
    #: Returned a value that is no poll's.
    WRONG = "wrong"
    #: Raised a ConnectionError (what an agent's loop expects).
    CONNECTION_ERROR = "ConnectionError"
    #: Raised anything else, or hung (escapes ``except ConnectionError``).
    OTHER = "other"


@dataclass
class Result:
    """What happened to one driver in one scenario.

    Attributes
    ----------
    outcomes : list of str
        One :class:`Outcome` per poll.
    errors : list of str
        ``type: message`` of every exception a poll or the construction
        raised that was not a ConnectionError.
    received : list of bytes
        Every command the instrument received, in order.
    connections : int
        Connections the instrument accepted.
    """

    outcomes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    connections: int = 0

    @property
    def failed(self) -> int:
        """Polls that did not return their own value (stale ones included)."""
        return sum(o != Outcome.OK for o in self.outcomes)

    @property
    def stale(self) -> int:
        """Polls that returned an earlier poll's value, silently."""
        return self.outcomes.count(Outcome.STALE)

    @property
    def other(self) -> int:
        """Polls that raised something an ``except ConnectionError`` misses."""
        return self.outcomes.count(Outcome.OTHER)


@dataclass
class _Step:
    """What a scenario does to the instrument around one poll."""

    before: Callable[[InstrumentDevice], None] | None = None
    after: Callable[[InstrumentDevice], None] | None = None
    faults: dict[str, Any] = field(default_factory=dict)
    #: Split the poll's data reply in two segments.
    split: bool = False


def _restart(device: InstrumentDevice) -> None:
    device.down("rst")
    device.up()


def _down(device: InstrumentDevice) -> None:
    device.down("rst")


def _up(device: InstrumentDevice) -> None:
    device.up()


def _idle(device: InstrumentDevice) -> None:
    device.drop_connections("fin")
    device.wait_clients(0)


def _settle(device: InstrumentDevice) -> None:
    device.wait_idle(5.0)


@dataclass(frozen=True)
class _Scenario:
    """What happens around which poll (by index), and whether it starts down."""

    events: dict[int, _Step]
    start_down: bool = False


_scenario = _Scenario


# After a reply left in the driver's buffer, the next replies take
# REPLY_TIME, as an instrument's do: what a driver reads first is then what
# was left, whatever the machine's load, so every run reads the same.
_REPLYING = {n: _Step(faults={"latency": REPLY_TIME}) for n in range(2, POLLS)}

#: Scenario name -> what happens before which poll (by index).
SCENARIOS: dict[str, _Scenario] = {
    "normal": _scenario({}),
    # Restarted between polls 1 and 2: every connection reset, back at once.
    "restart": _scenario({2: _Step(before=_restart)}),
    # Lost power between polls 1 and 2: connections forgotten, not closed.
    "power_cycle": _scenario({2: _Step(before=InstrumentDevice.power_cycle)}),
    # Closes the connection while it is idle, before polls 1 and 3.
    "idle_close": _scenario({1: _Step(before=_idle), 3: _Step(before=_idle)}),
    # Poll 1's replies come after the driver's timeout, before poll 2.
    "late_reply": _scenario(
        {1: _Step(faults={"latency": LATE}, after=_settle)} | _REPLYING
    ),
    # Switched off until poll 2.
    "unreachable_at_start": _scenario({2: _Step(before=_up)}, start_down=True),
    # Off for polls 1 and 2.
    "outage": _scenario({1: _Step(before=_down), 3: _Step(before=_up)}),
    # Poll 1's replies come in two segments.
    "split_reply": _scenario(
        {1: _Step(faults={"latency": REPLY_TIME}, split=True, after=_settle)}
        | _REPLYING
    ),
    # Poll 1's first command gets its connection closed instead of a reply.
    "closed_mid_command": _scenario(
        {1: _Step(before=lambda d: d.close_on_next_command("fin"))}
    ),
}


def load_driver(name: str, base: type) -> type:
    """socs's driver class for instrument ``name``, subclassing ``base``.

    The driver's module is imported afresh (it is not kept in
    ``sys.modules``) while ``socs.tcp.TCPInterface`` is ``base``, so its
    ``class X(TCPInterface)`` takes ``base``. Its ``time.sleep`` and
    ``select.select`` are shortened, in that module only.

    Parameters
    ----------
    name : str
        An instrument of :data:`DRIVERS`.
    base : type
        ``socs.tcp.TCPInterface`` or a ``socs_tcp.TCPInterface``.

    Returns
    -------
    type
        The driver class.
    """
    spec = DRIVERS[name]
    tcp: Any = importlib.import_module("socs.tcp")
    found = importlib.util.find_spec(spec.module)
    if found is None or found.loader is None:  # pragma: no cover - socs changed
        raise ImportError(f"socs has no module {spec.module}")
    module: Any = importlib.util.module_from_spec(found)
    saved = tcp.TCPInterface
    tcp.TCPInterface = base
    try:
        found.loader.exec_module(module)
    finally:
        tcp.TCPInterface = saved
    if hasattr(module, "time"):
        module.time = types.SimpleNamespace(
            sleep=lambda s: time.sleep(min(s, 0.01)), monotonic=time.monotonic
        )
    if hasattr(module, "select"):
        module.select = types.SimpleNamespace(
            select=lambda r, w, x, t=None: select.select(
                r, w, x, 0.02 if t is None else min(t, 0.02)
            )
        )
    driver: type = getattr(module, spec.cls)
    return driver


def _guarded(driver: Any) -> type:
    """``driver`` with a watchdog on ``recv``: endless ``b""`` raises Hung."""

    def recv(self: Any, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = driver.recv(self, *args, **kwargs)
        empty = self.__dict__.get("_harness_empty", 0)
        empty = 0 if data else empty + 1
        self.__dict__["_harness_empty"] = empty
        if empty >= EMPTY_READS:
            raise Hung(f"recv() returned b'' {empty} times in a row")
        return data

    return type(driver.__name__, (driver,), {"recv": recv})


def _close(driver: Any) -> None:
    """Close the driver's connection, whichever class it is on."""
    from socs_tcp import TCPInterface

    if isinstance(driver, TCPInterface):
        TCPInterface.close(driver)  # the driver may have its own close()
    elif driver.comm is not None:
        driver.comm.close()
    # DS378's __del__ closes a ``_com`` it never sets; give it one, so only
    # the behaviour under test shows.
    driver.__dict__.setdefault("_com", types.SimpleNamespace(close=lambda: None))


def _classify(value: Any, spec: Driver, n: int) -> str:
    def same(x: float) -> bool:
        return math.isclose(value, x, rel_tol=1e-4)

    try:
        value = float(value)
    except (TypeError, ValueError):
        return Outcome.WRONG
    if same(spec.reading(n)):
        return Outcome.OK
    if any(same(spec.reading(k)) for k in range(n)):
        return Outcome.STALE
    return Outcome.WRONG


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # socs.tcp and the drivers print; a run's output is its Result.
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def run(
    name: str,
    scenario: str,
    base: type,
    polls: int = POLLS,
    driver: type | None = None,
) -> Result:
    """Poll socs's driver for ``name`` through ``scenario``, on ``base``.

    Before each poll the instrument's ``reading`` changes, so each poll's
    value tells which poll it belongs to. A driver whose constructor
    raised is built again before the next poll; that poll failed.

    Parameters
    ----------
    name : str
        An instrument of :data:`DRIVERS`.
    scenario : str
        One of :data:`SCENARIOS`.
    base : type
        ``socs.tcp.TCPInterface`` or a ``socs_tcp.TCPInterface``.
    polls : int
        Polls to make.
    driver : type, optional
        A class to run instead of socs's driver: a changed one (a subclass
        of ``load_driver(name, base)``, say). Its constructor takes
        ``(ip, port, timeout)``.

    Returns
    -------
    Result
        Each poll's outcome, the errors, what the instrument received.
    """
    spec, plan = DRIVERS[name], SCENARIOS[scenario]
    agent = _Agent(_guarded(driver or load_driver(name, base)), spec)
    emulated: Instrument = instrument(name, spec.reading(0))
    device = emulated.device()
    with device, _quiet():
        if plan.start_down:
            device.down("rst")
        try:
            for n in range(polls):
                step = plan.events.get(n)
                emulated.reading = spec.reading(n)
                device.inject(**(step.faults if step else {}))
                if step and step.split:
                    device.split_next_reply(SPLIT_GAP, skip=spec.acks)
                if step and step.before:
                    step.before(device)
                    time.sleep(PERIOD)  # the time the agent's loop rests
                agent.poll(device, n)
                device.inject()
                if step and step.after:
                    step.after(device)
        finally:
            agent.close()
        agent.result.received = device.received
        agent.result.connections = device.connections
    return agent.result


class _Agent:
    """An agent's acquisition loop around one driver."""

    def __init__(self, cls: type, spec: Driver) -> None:
        self.cls, self.spec = cls, spec
        self.driver: Any = None
        self.result = Result()

    def poll(self, device: InstrumentDevice, n: int) -> None:
        """One poll (building the driver first if there is none yet)."""
        self.result.outcomes.append(self._outcome(device, n))

    def _outcome(self, device: InstrumentDevice, n: int) -> str:
        try:
            if self.driver is None:
                self.driver = self.cls(device.host, device.port, TIMEOUT)
            return _classify(self.spec.poll(self.driver), self.spec, n)
        except ConnectionError:
            return Outcome.CONNECTION_ERROR
        except _Bad:
            return Outcome.WRONG
        except Exception as exc:
            self.result.errors.append(f"poll {n}: {type(exc).__name__}: {exc}")
            return Outcome.OTHER

    def close(self) -> None:
        if self.driver is not None:
            _close(self.driver)
            self.driver = None
