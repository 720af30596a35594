"""A Lakeshore 372 AC resistance bridge: SCPI-style queries ending in CR LF."""

from __future__ import annotations

from typing import ClassVar

from socs_tcp.testing.instruments.base import ScpiInstrument

__all__ = ["Lakeshore372"]


class Lakeshore372(ScpiInstrument):
    """Sixteen channels and the control input A; ``reading`` is channel 1 (K).

    Answers what socs's ``LS372`` asks when it starts (``*IDN?``, ``SCAN?``,
    ``INSET?``, ``INNAME?``, ``INTYPE?``, ``TLIMIT?``, ``OUTMODE?``,
    ``HTRSET?``) and the readings ``KRDG?``/``RDGK?`` (kelvin) and
    ``SRDG?``/``RDGR?`` (ohms) of any channel: channel ``n`` reads
    ``reading + n - 1``. Settings are stored and otherwise ignored.
    """

    name = "lakeshore372"
    model = "Lakeshore 372"
    port = 7777
    terminator = b"\r\n"
    reply_terminator = b"\r\n"
    default_reading: ClassVar[float] = 0.1
    defaults: ClassVar[dict[str, str]] = {
        "*IDN": "LSCI,MODEL372,LSA12AB,1.4",
        "SCAN": "01,0",
    }

    def query(self, header: str, args: str) -> str | None:
        """The fixed setup of every channel; readings follow ``reading``."""
        channel = args.split(",")[0].strip()
        if header in ("KRDG", "RDGK", "SRDG", "RDGR"):
            number = 0 if channel in ("A", "0") else int(channel or 1)
            value = self.reading + max(number, 1) - 1
            if header in ("SRDG", "RDGR"):
                value = 1000.0 / value
            return f"{value:+.5E}"
        fixed = {
            "INSET": "1,10,3,0,2",
            "INNAME": f"Channel {channel}",
            "INTYPE": "1,1,0,1,0,1" if channel == "A" else "0,2,1,22,0,1",
            "TLIMIT": "+0000.00",
            "OUTMODE": "0,1,0,0,0,0",
            "HTRSET": "+120.000,1,+0.000,1",
        }
        if header in fixed:
            return fixed[header]
        return super().query(header, args)
