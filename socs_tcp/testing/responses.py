"""What a fake device answers: a checked table of responses."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Union

__all__ = ["Handler", "Key", "Reply", "Responses", "ResponseTable", "Value"]


@dataclass(frozen=True)
class Reply:
    """A reply the device sends only after ``delay`` more seconds.

    Use it wherever a reply is taken (a value of the responses table, an
    item of a list served in turn, a script step, what a callable returns)
    for a command the instrument takes longer over, such as a measurement.

    Parameters
    ----------
    data : bytes
        The reply, without its terminator.
    delay : float
        Seconds the device spends on this command, on top of ``latency``.
        Defaults to 0.
    """

    data: bytes
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"Reply data must be bytes, not {self.data!r}")
        delay = self.delay
        if (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise ValueError(f"Reply delay must be seconds >= 0, not {delay!r}")


#: What one command gets: bytes, a delayed :class:`Reply`, or None (no reply).
Answer = Union[bytes, Reply, None]
#: A reply computed from the command and, for a regex key, its match.
Handler = Callable[[bytes, Optional["re.Match[bytes]"]], Answer]
#: A command: exact bytes, or a compiled bytes regex (``fullmatch``).
Key = Union[bytes, "re.Pattern[bytes]"]
#: What a key maps to: a reply, replies served in turn, a handler, or no reply.
Value = Union[bytes, Reply, Sequence[Union[bytes, Reply, Handler]], Handler, None]
#: A table of commands (a mapping, or ``(key, value)`` pairs tried in order),
#: or one callable ``command -> reply`` for everything.
Responses = Union[
    Mapping[Key, Value],
    Sequence[tuple[Key, Value]],
    Callable[[bytes], Answer],
]


class _InTurn:
    """Handlers used in turn; the last one answers once they run out.

    Each table builds its own from the value's list, so two devices made
    from one table (or one dialogue) count their turns apart.
    """

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers
        self.index = 0

    def __call__(self, command: bytes, match: re.Match[bytes] | None) -> Answer:
        handler = self.handlers[min(self.index, len(self.handlers) - 1)]
        self.index += 1
        return handler(command, match)


def _fixed(reply: Answer) -> Handler:
    def answer(command: bytes, match: re.Match[bytes] | None) -> Answer:
        return reply

    return answer


def _literal(text: str) -> str:
    """The bytes literal to write instead of the ``str`` ``text``."""
    return repr(text.encode("latin-1", "backslashreplace"))


def _handler(key: object, value: object) -> Handler:
    """Check one value of the table and return it as a handler."""
    if value is None or isinstance(value, (bytes, Reply)):
        return _fixed(value)
    if isinstance(value, bytearray):
        return _fixed(bytes(value))
    if callable(value):
        return value
    if isinstance(value, (list, tuple)) and value:
        handlers = []
        for item in value:
            if isinstance(item, (bytes, bytearray, Reply)):
                handlers.append(
                    _fixed(bytes(item) if isinstance(item, bytearray) else item)
                )
            elif callable(item):
                handlers.append(item)
            else:
                raise TypeError(
                    f"responses[{key!r}]: the list holds {item!r}, not bytes; "
                    f"write b'...' for each reply"
                )
        return _InTurn(handlers)
    hint = ""
    if isinstance(value, str):
        hint = f" (write {_literal(value)})"
    raise TypeError(
        f"responses[{key!r}] is {type(value).__name__}{hint}; a reply must be "
        f"bytes, Reply(b'...', delay=S), a non-empty list of replies served "
        f"in turn, a callable (command, match) -> bytes or None, or None for "
        f"no reply"
    )


def check_key(key: object) -> Key:
    """Check one command key: exact bytes or a compiled bytes regex.

    Parameters
    ----------
    key : object
        The key.

    Returns
    -------
    bytes or re.Pattern
        The key, as bytes if it was a bytearray.

    Raises
    ------
    TypeError
        Anything else, with what to write instead.
    """
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    if isinstance(key, re.Pattern) and isinstance(key.pattern, bytes):
        return key
    hint = ""
    if isinstance(key, str):
        hint = f"; write {_literal(key)}"
    elif isinstance(key, re.Pattern):
        hint = "; compile a bytes pattern: re.compile(rb'...')"
    raise TypeError(
        f"responses key {key!r} is {type(key).__name__}: keys are "
        f"bytes or compiled bytes regexes{hint}"
    )


class ResponseTable:
    """A checked table of responses: what the device says to each command.

    An exact ``bytes`` key is looked up first; then each compiled regex key,
    in the table's order, is tried with ``fullmatch``. A command nothing
    matches gets ``default``. Given as ``(key, value)`` pairs, a key that
    comes twice is kept, and its first entry answers.

    Parameters
    ----------
    responses : mapping, sequence of pairs, or callable
        Keys are ``bytes`` or compiled ``bytes`` regexes; values are
        ``bytes``, a :class:`Reply` (a reply with a delay), a list of those
        served in turn (the last repeats), a callable
        ``(command, match) -> bytes | Reply | None`` (``match`` is None for
        a ``bytes`` key), or None for no reply. Or one callable
        ``command -> bytes | Reply | None`` for every command.
    default : bytes or None
        The reply to a command no key matches. Defaults to None: no reply.
    """

    def __init__(self, responses: Responses, default: bytes | None = None) -> None:
        self._exact: dict[bytes, Handler] = {}
        self._patterns: list[tuple[re.Pattern[bytes], Handler]] = []
        self._everything: Callable[[bytes], Answer] | None = None
        if default is not None and not isinstance(default, bytes):
            raise TypeError(f"default must be bytes or None, not {default!r}")
        self.default = default
        if callable(responses) and not isinstance(responses, Mapping):
            self._everything = responses
            return
        if isinstance(responses, Mapping):
            pairs = list(responses.items())
        elif isinstance(responses, (list, tuple)) and all(
            isinstance(pair, tuple) and len(pair) == 2 for pair in responses
        ):
            pairs = list(responses)
        else:
            raise TypeError(
                f"responses must be a dict {{command: reply}}, a list of "
                f"(command, reply) pairs or a callable command -> reply, not "
                f"{type(responses).__name__}"
            )
        for raw, value in pairs:
            key = check_key(raw)
            if isinstance(key, bytes):
                self._exact.setdefault(key, _handler(raw, value))
            else:
                self._patterns.append((key, _handler(raw, value)))

    def answer(self, command: bytes) -> Reply | None:
        """What the device answers ``command`` (without terminator).

        Parameters
        ----------
        command : bytes
            One framed command.

        Returns
        -------
        Reply or None
            The reply and its delay, or None for no reply.
        """
        if self._everything is not None:
            return checked("responses", self._everything(command))
        handler = self._exact.get(command)
        if handler is not None:
            return checked(command, handler(command, None))
        for pattern, handler in self._patterns:
            match = pattern.fullmatch(command)
            if match is not None:
                return checked(pattern, handler(command, match))
        return None if self.default is None else Reply(self.default)

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
        answer = self.answer(command)
        return None if answer is None else answer.data


def checked(key: object, reply: object) -> Reply | None:
    """A handler's result as a :class:`Reply`, or a clear error.

    Parameters
    ----------
    key : object
        The command key it answered, for the message.
    reply : object
        What the handler returned.

    Returns
    -------
    Reply or None
        The reply, or None for no reply.
    """
    if reply is None or isinstance(reply, Reply):
        return reply
    if isinstance(reply, (bytes, bytearray, memoryview)):
        return Reply(bytes(reply))
    raise TypeError(
        f"the reply for {key!r} is {type(reply).__name__} {reply!r}; "
        f"return bytes, Reply(b'...', delay=S) or None"
    )
