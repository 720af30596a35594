"""Emulations of the instruments socs's own drivers talk to, by name.

Each one answers what its socs driver sends, from state a test can change
(``reading``, the main measured value), on a real loopback port::

    from socs_tcp.testing.instruments import instrument

    gauge = instrument("pfeiffer_tpg366")
    with gauge.device(latency=0.01) as device:   # a FakeDevice; faults apply
        ...                                       # connect to device.address
        gauge.reading = 2e-3                      # the next reply says so

``python -m socs_tcp emulate NAME`` serves one until Ctrl-C.
"""

from __future__ import annotations

from socs_tcp.testing.instruments.base import (
    Instrument,
    InstrumentDevice,
    ScpiInstrument,
)
from socs_tcp.testing.instruments.cryomech import CryomechCPA
from socs_tcp.testing.instruments.devantech import DevantechDS378
from socs_tcp.testing.instruments.galil import GalilDMC
from socs_tcp.testing.instruments.kikusui import KikusuiPCR500MA, KikusuiPMX
from socs_tcp.testing.instruments.lakeshore import Lakeshore372
from socs_tcp.testing.instruments.pfeiffer import PfeifferTPG366
from socs_tcp.testing.instruments.toptica import DLCSmart

__all__ = [
    "INSTRUMENTS",
    "CryomechCPA",
    "DLCSmart",
    "DevantechDS378",
    "GalilDMC",
    "Instrument",
    "InstrumentDevice",
    "KikusuiPCR500MA",
    "KikusuiPMX",
    "Lakeshore372",
    "PfeifferTPG366",
    "ScpiInstrument",
    "instrument",
]

#: The emulations, by name.
INSTRUMENTS: dict[str, type[Instrument]] = {
    cls.name: cls
    for cls in (
        CryomechCPA,
        PfeifferTPG366,
        DevantechDS378,
        KikusuiPCR500MA,
        KikusuiPMX,
        GalilDMC,
        DLCSmart,
        Lakeshore372,
    )
}


def instrument(name: str, reading: float | None = None) -> Instrument:
    """A new emulated instrument, by name; ``.device()`` serves it.

    Parameters
    ----------
    name : str
        One of ``INSTRUMENTS``: ``"cryomech_cpa"``, ``"pfeiffer_tpg366"``,
        ``"devantech_ds378"``, ``"kikusui_pcr500ma"``, ``"kikusui_pmx"``,
        ``"galil_axis"``, ``"dlc_smart"``, ``"lakeshore372"``.
    reading : float, optional
        Its main measured value; defaults to the instrument's own.

    Returns
    -------
    Instrument
        The instrument, not yet served.

    Raises
    ------
    KeyError
        No instrument has that name; the message lists the names.
    """
    try:
        cls = INSTRUMENTS[name]
    except KeyError:
        known = ", ".join(INSTRUMENTS)
        raise KeyError(f"no instrument {name!r}; the instruments are {known}") from None
    return cls(reading)
