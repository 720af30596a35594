"""A Toptica DLC smart laser controller: a command line with a ``> `` prompt."""

from __future__ import annotations

import re
from typing import ClassVar

from socs_tcp.testing.instruments.base import Instrument

__all__ = ["DLCSmart"]

_REF = re.compile(r"\(param-ref '([\w:-]+)\)")
_SET = re.compile(r"\(param-set! '([\w:-]+) (.+)\)")
_EXEC = re.compile(r"\(exec '([\w:-]+).*\)")


class DLCSmart(Instrument):
    """The FLS agent's laser; ``reading`` is ``frequency:frequency-act`` (GHz).

    Each connection starts with a banner and the ``> `` prompt; each reply
    is the value, LF, then the prompt. ``(param-ref 'NAME)`` reads a
    parameter, ``(param-set! 'NAME VALUE)`` sets one (reply ``0``),
    ``(exec 'NAME ...)`` runs a command (reply ``()``); anything else gets
    an error line.

    Attributes
    ----------
    params : dict of str to str
        The parameters, as the controller prints them.
    """

    name = "dlc_smart"
    model = "Toptica DLC smart"
    port = 1998
    greeting = b"DeCoF Command Line\n> "
    default_reading: ClassVar[float] = 300.0

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.params = {
            "general:system-label": '"DLC smart"',
            "laser-operation:emission-global-enable": "#f",
            "lockin:mod-out-amplitude": "0.5",
            "lockin:mod-out-offset": "0.0",
            "lockin:lock-in-value-nanoamp": "(1.25 #t)",
            "lockin:integration-time": "10",
            "frequency:frequency-set": "300.0",
            "frequency:scan-mode-fast": "#t",
            "frequency:frequency-min": "100.0",
            "frequency:frequency-max": "500.0",
            "frequency:frequency-step": "0.5",
        }

    def _answer(self, text: str) -> str:
        found = _REF.fullmatch(text)
        if found:
            name = found.group(1)
            if name == "frequency:frequency-act":
                return f"{self.reading:.6f}"
            return self.params.get(name, "Error: -13 unknown parameter")
        found = _SET.fullmatch(text)
        if found:
            self.params[found.group(1)] = found.group(2)
            return "0"
        if _EXEC.fullmatch(text):
            return "()"
        return f"Error: -1 cannot parse {text!r}"

    def __call__(self, command: bytes) -> bytes | None:
        text = command.decode("latin-1").strip()
        return self._answer(text).encode("latin-1") + b"\n> "
