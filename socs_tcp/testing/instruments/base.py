"""What every emulated instrument shares: state, framing, and a FakeDevice."""

from __future__ import annotations

from typing import Any, ClassVar

from socs_tcp.testing.device import FakeDevice
from socs_tcp.testing.framing import Framer, by_terminator

__all__ = ["Instrument", "ScpiInstrument"]


class Instrument:
    """An instrument's behaviour, served by a :class:`FakeDevice`.

    A subclass answers one framed command at a time (``__call__``), from
    state a test can read and change while the device runs: ``reading`` is
    the instrument's main measured value (a pressure, a voltage, a
    position), so a test can tell which poll a reply belongs to.

    Parameters
    ----------
    reading : float, optional
        The main measured value. Defaults to the class's ``default_reading``.

    Attributes
    ----------
    reading : float
        The main measured value, as the next reply reports it.
    """

    #: The name :func:`socs_tcp.testing.instruments.instrument` knows it by.
    name: ClassVar[str] = ""
    #: The model, for logs and transcripts.
    model: ClassVar[str] = ""
    #: The port the real instrument listens on.
    port: ClassVar[int] = 0
    #: What ends a command; None when ``framer()`` cuts commands.
    terminator: ClassVar[bytes | None] = b"\n"
    #: Appended to every reply (most instruments here write their own).
    reply_terminator: ClassVar[bytes] = b""
    #: Sent to each new connection (a banner, a prompt).
    greeting: ClassVar[bytes] = b""
    default_reading: ClassVar[float] = 0.0

    def __init__(self, reading: float | None = None) -> None:
        self.reading = self.default_reading if reading is None else reading

    def framer(self) -> Framer | None:
        """How commands are cut, when no ``terminator`` does it."""
        return None

    def __call__(self, command: bytes) -> bytes | None:
        """The reply to one command, or None for no reply."""
        raise NotImplementedError

    def device(self, **options: Any) -> FakeDevice:
        """Start a :class:`FakeDevice` that behaves as this instrument.

        Parameters
        ----------
        **options
            Arguments of :class:`FakeDevice` that replace the instrument's
            (``port=...``, ``host=...``), and faults (``latency=0.5``).

        Returns
        -------
        FakeDevice
            The started device, on a free port unless ``port`` is given.
        """
        framer = self.framer()
        kwargs: dict[str, Any] = {
            "terminator": None if framer is not None else self.terminator,
            "framer": framer,
            "reply_terminator": self.reply_terminator,
            "greeting": self.greeting,
            "name": self.model,
        }
        kwargs.update(options)
        return FakeDevice(self, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} reading={self.reading!r}>"


class ScpiInstrument(Instrument):
    """A line-based instrument: ``HEADER? ARGS`` queries, ``HEADER ARGS`` settings.

    Headers are matched without case and without a leading ``:``. A setting
    stores its arguments, and the query of the same header returns them; a
    subclass answers measurements in :meth:`query`. Unknown queries get no
    reply, as SCPI instruments do (they queue an error instead).

    Attributes
    ----------
    settings : dict of str to str
        The value of each header, as the last setting left it.
    """

    defaults: ClassVar[dict[str, str]] = {}

    def __init__(self, reading: float | None = None) -> None:
        super().__init__(reading)
        self.settings = dict(self.defaults)

    def query(self, header: str, args: str) -> str | None:
        """The reply to ``HEADER? ARGS`` (header upper-case, without ``?``)."""
        return self.settings.get(header)

    def __call__(self, command: bytes) -> bytes | None:
        header, _, args = command.decode("latin-1").strip().partition(" ")
        header = header.upper().lstrip(":")
        if header.endswith("?"):
            reply = self.query(header[:-1], args.strip())
            return None if reply is None else reply.encode("latin-1")
        self.settings[header] = args.strip()
        return None
