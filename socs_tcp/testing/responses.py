"""What a fake device answers: a checked table of responses."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Callable, Optional, Union

__all__ = ["Handler", "Responses", "ResponseTable", "Value"]

#: A reply computed from the command and, for a regex key, its match.
Handler = Callable[[bytes, Optional["re.Match[bytes]"]], Optional[bytes]]
#: What a key maps to: a reply, replies served in turn, a handler, or no reply.
Value = Union[bytes, Sequence[bytes], Handler, None]
#: A table of commands, or one callable ``command -> reply`` for everything.
Responses = Union[
    Mapping[Union[bytes, "re.Pattern[bytes]"], Value],
    Callable[[bytes], Optional[bytes]],
]


class _InTurn:
    """Handlers used in turn; the last one answers once they run out."""

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers
        self.index = 0

    def __call__(self, command: bytes, match: re.Match[bytes] | None) -> bytes | None:
        handler = self.handlers[min(self.index, len(self.handlers) - 1)]
        self.index += 1
        return handler(command, match)


def _fixed(reply: bytes | None) -> Handler:
    def answer(command: bytes, match: re.Match[bytes] | None) -> bytes | None:
        return reply

    return answer


def _literal(text: str) -> str:
    """The bytes literal to write instead of the ``str`` ``text``."""
    return repr(text.encode("latin-1", "backslashreplace"))


def _handler(key: object, value: object) -> Handler:
    """Check one value of the table and return it as a handler."""
    if value is None or isinstance(value, bytes):
        return _fixed(value)
    if isinstance(value, bytearray):
        return _fixed(bytes(value))
    if callable(value):
        return value
    if isinstance(value, (list, tuple)) and value:
        for item in value:
            if not isinstance(item, (bytes, bytearray)):
                raise TypeError(
                    f"responses[{key!r}]: the list holds {item!r}, not bytes; "
                    f"write b'...' for each reply"
                )
        return _InTurn([_fixed(bytes(item)) for item in value])
    hint = ""
    if isinstance(value, str):
        hint = f" (write {_literal(value)})"
    raise TypeError(
        f"responses[{key!r}] is {type(value).__name__}{hint}; a reply must be "
        f"bytes, a non-empty list of bytes served in turn, a callable "
        f"(command, match) -> bytes or None, or None for no reply"
    )


class ResponseTable:
    """A checked table of responses: what the device says to each command.

    An exact ``bytes`` key is looked up first; then each compiled regex key,
    in the table's order, is tried with ``fullmatch``. A command nothing
    matches gets ``default``.

    Parameters
    ----------
    responses : mapping or callable
        Keys are ``bytes`` or compiled ``bytes`` regexes; values are
        ``bytes``, a list of ``bytes`` served in turn (the last repeats), a
        callable ``(command, match) -> bytes | None`` (``match`` is None for a
        ``bytes`` key), or None for no reply. Or one callable
        ``command -> bytes | None`` for every command.
    default : bytes or None
        The reply to a command no key matches. Defaults to None: no reply.
    """

    def __init__(self, responses: Responses, default: bytes | None = None) -> None:
        self._exact: dict[bytes, Handler] = {}
        self._patterns: list[tuple[re.Pattern[bytes], Handler]] = []
        self._everything: Callable[[bytes], bytes | None] | None = None
        if default is not None and not isinstance(default, bytes):
            raise TypeError(f"default must be bytes or None, not {default!r}")
        self.default = default
        if callable(responses) and not isinstance(responses, Mapping):
            self._everything = responses
            return
        if not isinstance(responses, Mapping):
            raise TypeError(
                f"responses must be a dict {{command: reply}} or a callable "
                f"command -> reply, not {type(responses).__name__}"
            )
        for key, value in responses.items():
            if isinstance(key, (bytes, bytearray)):
                self._exact[bytes(key)] = _handler(key, value)
            elif isinstance(key, re.Pattern) and isinstance(key.pattern, bytes):
                self._patterns.append((key, _handler(key, value)))
            else:
                hint = ""
                if isinstance(key, str):
                    hint = f"; write {_literal(key)}"
                elif isinstance(key, re.Pattern):
                    hint = "; compile a bytes pattern: re.compile(rb'...')"
                raise TypeError(
                    f"responses key {key!r} is {type(key).__name__}: keys are "
                    f"bytes or compiled bytes regexes{hint}"
                )

    def reply(self, command: bytes) -> bytes | None:
        """The reply to ``command`` (without terminator), or None.

        Parameters
        ----------
        command : bytes
            One framed command.

        Returns
        -------
        bytes or None
            The reply, or None for no reply.
        """
        if self._everything is not None:
            return _checked("responses", self._everything(command))
        handler = self._exact.get(command)
        if handler is not None:
            return _checked(command, handler(command, None))
        for pattern, handler in self._patterns:
            match = pattern.fullmatch(command)
            if match is not None:
                return _checked(pattern, handler(command, match))
        return self.default


def _checked(key: object, reply: object) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    if isinstance(reply, (bytearray, memoryview)):
        return bytes(reply)
    raise TypeError(
        f"the reply for {key!r} is {type(reply).__name__} {reply!r}; "
        f"return bytes or None"
    )
