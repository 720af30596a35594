"""Strict scripts: the commands a test expects, in order, with their replies."""

from __future__ import annotations

import re
from collections.abc import Sequence

from socs_tcp.testing.responses import (
    Handler,
    Key,
    Reply,
    Value,
    _handler,
    check_key,
    checked,
)

__all__ = ["Script", "ScriptError"]

_UNUSED = ("error", "ignore")


class ScriptError(AssertionError):
    """The driver did not send what the script expected.

    Raised by :meth:`FakeDevice.stop` (and so at the ``fake_device``
    fixture's teardown) for a command out of order, a command not in the
    script, or steps left unused.
    """


def _show(key: Key) -> str:
    return repr(key) if isinstance(key, bytes) else f"re.compile({key.pattern!r})"


class Script:
    """Steps that must come in order: each a command and what answers it.

    A device serving a script answers the commands of all its connections
    as one sequence. A command that is not the next step's gets no reply
    and is an error; the script then still waits for that step.

    Parameters
    ----------
    steps : sequence of (key, value)
        The command (exact ``bytes``, or a compiled ``bytes`` regex that must
        ``fullmatch``) and its reply: ``bytes``, :class:`Reply`, a callable
        ``(command, match) -> reply``, or None for a command that gets no
        reply.
    unused : {"error", "ignore"}
        Whether steps left unused at the end are an error (the default).
    """

    def __init__(
        self, steps: Sequence[tuple[Key, Value]], unused: str = "error"
    ) -> None:
        if unused not in _UNUSED:
            raise ValueError(
                f'script_unused must be "error" or "ignore", not {unused!r}'
            )
        if isinstance(steps, (bytes, str)) or not isinstance(steps, Sequence):
            raise TypeError(
                "script must be a list of (command, reply) pairs, e.g. "
                "[(b'*IDN?', b'ACME,1'), (b'VOLT 5', None)]"
            )
        self._steps: list[tuple[Key, Handler]] = []
        for number, step in enumerate(steps, 1):
            if not isinstance(step, tuple) or len(step) != 2:
                raise TypeError(
                    f"script step {number} is {step!r}; write (command, reply), "
                    f"e.g. (b'VOLT 5', None)"
                )
            key = check_key(step[0])
            self._steps.append((key, _handler(key, step[1])))
        self.unused = unused
        self.position = 0

    def __len__(self) -> int:
        return len(self._steps)

    def answer(self, command: bytes) -> Reply | None:
        """Check ``command`` against the next step and answer it.

        Parameters
        ----------
        command : bytes
            One framed command.

        Returns
        -------
        Reply or None
            The step's reply.

        Raises
        ------
        ScriptError
            ``command`` is not the next step's command.
        """
        if self.position >= len(self._steps):
            raise ScriptError(
                f"received {command!r} after the script's {len(self._steps)} "
                f"steps were all used"
            )
        key, handler = self._steps[self.position]
        match: re.Match[bytes] | None = None
        if isinstance(key, bytes):
            fits = command == key
        else:
            match = key.fullmatch(command)
            fits = match is not None
        if not fits:
            later = [
                n
                for n, (k, _) in enumerate(self._steps, 1)
                if (k == command if isinstance(k, bytes) else k.fullmatch(command))
            ]
            where = f"it is step {later[0]}" if later else "it is not in the script"
            raise ScriptError(
                f"received {command!r}, expected {_show(key)} (step "
                f"{self.position + 1} of {len(self._steps)}); {where}"
            )
        self.position += 1
        return checked(key, handler(command, match))

    def left(self) -> ScriptError | None:
        """The error for the steps not used, if they count as one.

        Returns
        -------
        ScriptError or None
            None when every step was used, or ``unused="ignore"``.
        """
        rest = self._steps[self.position :]
        if not rest or self.unused == "ignore":
            return None
        shown = ", ".join(_show(key) for key, _ in rest[:5])
        more = f" and {len(rest) - 5} more" if len(rest) > 5 else ""
        return ScriptError(
            f"{len(rest)} of {len(self._steps)} script steps never came: "
            f"{shown}{more} (expected next: step {self.position + 1}); pass "
            f'script_unused="ignore" if the driver may stop early'
        )
