"""The faults a fake device can inject, checked once when they are set."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["Faults"]

_DROPS = ("fin", "rst")


@dataclasses.dataclass(frozen=True)
class Faults:
    """How a fake device misbehaves; the defaults are a well-behaved device.

    Parameters
    ----------
    latency : float
        Seconds between a command's arrival and the start of its reply.
    chunk : int or None
        Send each reply in pieces of this many bytes.
    chunk_delay : float
        Seconds between two pieces of a chunked reply.
    silent : bool
        Read and record commands, never reply.
    drop : {"fin", "rst"} or None
        Close the connection instead of replying, with an orderly FIN or a
        reset. With ``drop_after``, only how that close is done.
    drop_after : int or None
        Close each connection after it has been sent this many replies (with
        a FIN, or as ``drop`` says).
    idle_close : float or None
        Close a connection that has been idle (nothing received or sent)
        this many seconds.
    garbage : bytes
        Bytes sent before each reply.
    late : float or None
        Hold each reply back until the next command arrives on the same
        connection, then send it this many seconds later, before that
        command's own (also held) reply: every reply comes one turn late.
    refuse : bool
        Accept each connection, then close it at once.
    """

    latency: float = 0.0
    chunk: int | None = None
    chunk_delay: float = 0.0
    silent: bool = False
    drop: str | None = None
    drop_after: int | None = None
    idle_close: float | None = None
    garbage: bytes = b""
    late: float | None = None
    refuse: bool = False

    def __post_init__(self) -> None:
        for name in ("latency", "chunk_delay"):
            _seconds(name, getattr(self, name))
        for name in ("idle_close", "late"):
            if getattr(self, name) is not None:
                _seconds(name, getattr(self, name))
        for name in ("chunk", "drop_after"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(f"{name} must be an int >= 1 or None, not {value!r}")
        if self.drop is not None and self.drop not in _DROPS:
            raise ValueError(f'drop must be "fin", "rst" or None, not {self.drop!r}')
        if not isinstance(self.garbage, bytes):
            raise TypeError(
                f"garbage must be bytes (b'...'), not {type(self.garbage).__name__}"
            )
        for name in ("silent", "refuse"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The fault names, as keyword arguments take them."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def of(cls, faults: dict[str, Any]) -> Faults:
        """Build from keyword arguments, naming any unknown one.

        Parameters
        ----------
        faults : dict
            Fault names and values.

        Returns
        -------
        Faults
            The checked faults.
        """
        unknown = sorted(set(faults) - set(cls.names()))
        if unknown:
            raise TypeError(
                f"unknown fault {', '.join(unknown)}; the faults are "
                f"{', '.join(cls.names())}"
            )
        return cls(**faults)

    def active(self) -> dict[str, Any]:
        """The faults that differ from a well-behaved device."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != field.default
        }


def _seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be seconds >= 0, not {value!r}")
