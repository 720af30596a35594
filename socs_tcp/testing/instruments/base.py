"""What every emulated instrument shares: state, framing, and a FakeDevice."""

from __future__ import annotations

from typing import Any, ClassVar

from socs_tcp.testing.device import FakeDevice, _Client
from socs_tcp.testing.faults import _DROPS, Faults
from socs_tcp.testing.framing import Framer

__all__ = ["Instrument", "InstrumentDevice", "ScpiInstrument"]


class InstrumentDevice(FakeDevice):
    """A :class:`FakeDevice` with the failures of a real instrument's life.

    Beyond the faults of :class:`FakeDevice`: a power cycle (the instrument
    forgets its connections without closing them, as one that lost power
    does), closing the connections it holds while it stays up (an idle
    timeout), closing one connection on the next command instead of
    answering it, and one reply split in two segments.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._forgotten: set[int] = set()
        self._close_next: str | None = None
        self._split: tuple[float, int] | None = None
        super().__init__(*args, **kwargs)

    def power_cycle(self) -> None:
        """Forget every open connection, as a device that lost power does.

        Nothing is sent: a client learns of it only when it next writes,
        and its next command is answered with a reset (RST), as a TCP stack
        that restarted answers a segment of a connection it never had. New
        connections are served as usual.
        """
        self._call(
            lambda: self._forgotten.update(c.number for c in self._clients.values())
        )

    def drop_connections(self, how: str = "fin") -> None:
        """Close every open connection and keep listening (an idle timeout).

        Parameters
        ----------
        how : {"fin", "rst"}
            Close with a FIN (default) or a reset.
        """
        self._check_how(how)
        self._call(lambda: self._drop_all(how))

    def _drop_all(self, how: str) -> None:
        for client in list(self._clients.values()):
            self._drop(client, how)

    def close_on_next_command(self, how: str = "fin") -> None:
        """Close the connection the next command arrives on, instead of answering.

        Once: the command after that is answered as usual.

        Parameters
        ----------
        how : {"fin", "rst"}
            Close with a FIN (default) or a reset.
        """
        self._check_how(how)
        self._call(lambda: setattr(self, "_close_next", how))

    def split_next_reply(self, gap: float, skip: int = 0) -> None:
        """Send the next reply in two halves, ``gap`` seconds apart.

        Once: the replies after it are sent whole.

        Parameters
        ----------
        gap : float
            Seconds between the two halves.
        skip : int
            Replies to send whole first (an acknowledgement before the data).
        """
        if gap < 0 or skip < 0:
            raise ValueError(f"gap and skip must be >= 0, not {gap!r} and {skip!r}")
        self._call(lambda: setattr(self, "_split", (gap, skip)))

    def _reply(
        self, client: _Client, reply: bytes, start: float, now: float, faults: Faults
    ) -> None:
        if self._split is None or faults.late is not None:
            super()._reply(client, reply, start, now, faults)
            return
        gap, skip = self._split
        if skip:
            self._split = (gap, skip - 1)
            super()._reply(client, reply, start, now, faults)
            return
        self._split = None
        data = faults.garbage + reply + self.reply_terminator
        half = (len(data) + 1) // 2
        self._schedule(client, data[:half], start, faults)
        self._schedule(client, data[half:], client.busy_until + gap, faults)
        client.replies += 1

    @staticmethod
    def _check_how(how: str) -> None:
        if how not in _DROPS:
            raise ValueError(f'how must be "fin" or "rst", not {how!r}')

    def _command(self, client: _Client, command: bytes) -> None:
        how = "rst" if client.number in self._forgotten else self._close_next
        if how is None:
            super()._command(client, command)
            return
        if client.number not in self._forgotten:
            self._close_next = None
        self._received.append(command)
        self._log(client, "received", command)
        self._drop(client, how)


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

    def device(self, **options: Any) -> InstrumentDevice:
        """Start an :class:`InstrumentDevice` that behaves as this instrument.

        Parameters
        ----------
        **options
            Arguments of :class:`FakeDevice` that replace the instrument's
            (``port=...``, ``host=...``), and faults (``latency=0.5``).

        Returns
        -------
        InstrumentDevice
            The started device (a :class:`FakeDevice`), on a free port unless
            ``port`` is given.
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
        return InstrumentDevice(self, **kwargs)

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
