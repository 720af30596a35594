"""A Galil DMC motion controller: commands end in CR, replies in the ``:`` prompt."""

from __future__ import annotations

from typing import ClassVar

from socs_tcp.testing.instruments.base import Instrument

__all__ = ["GalilDMC"]

_AXES = "ABCD"
_REPORTS = ("TP", "TV", "TT", "TE")


class GalilDMC(Instrument):
    """Four axes; ``reading`` is axis A's relative move (``MG _PRA``).

    ``MG _XXA`` reports variable ``XX`` of axis A (any variable in
    ``variables``), ``TP``/``TV``/``TT``/``TE`` report every axis; each reply
    is `` value`` CR LF then the ``:`` prompt. Any other command is accepted
    with ``:`` alone, an empty one gets ``?`` (a Galil's "bad command"), and
    ``TC1`` explains it. ``BGA`` starts axis A's motion (``_BGA`` is 1)
    and ``STA`` stops it.

    Attributes
    ----------
    variables : dict of str to float
        ``{"_BGA": 0, ...}``: what ``MG`` reports.
    """

    name = "galil_axis"
    model = "Galil DMC"
    port = 23
    terminator = b"\r"
    default_reading: ClassVar[float] = 1000.0

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.variables: dict[str, float] = {}
        for axis in _AXES:
            self.variables.update(
                {f"_BG{axis}": 0, f"_MT{axis}": 1, f"_OE{axis}": 1, f"_MO{axis}": 0}
            )

    def __call__(self, command: bytes) -> bytes | None:
        text = command.decode("latin-1").strip().rstrip(";")
        if not text:
            return b"?"
        if text.startswith("MG "):
            name = text[3:].strip()
            value = self.reading if name == "_PRA" else self.variables.get(name)
            if value is None:
                return b"?"
            return f" {value:.4f}\r\n:".encode()
        if text in _REPORTS:
            values = [self.reading if text == "TP" else 0.0] + [0.0] * 3
            return (", ".join(f"{v:.0f}" for v in values) + "\r\n:").encode()
        if text == "TC1":
            return b"0\r\n:"
        if text[:2] in ("BG", "ST") and text[2:] in _AXES:
            self.variables[f"_BG{text[2:]}"] = 1 if text[:2] == "BG" else 0
        return b":"
