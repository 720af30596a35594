"""Dialogue files: a fake device described in TOML.

A dialogue has up to three tables, all optional::

    [device]                     # how commands are framed
    name = "PTC gauge"
    terminator = "\\r\\n"          # or framing = "mbap", or framing = "fixed"
    default = "ERR"              # the reply to anything else

    [faults]                     # as FakeDevice takes them
    latency = 0.01

    [[responses]]                # one per command, tried in order
    command = "*IDN?"            # or match = 'regex'
    reply = "ACME,PTC,1.0"       # or replies = [...], hex = "...", silent = true
    delay = 0.5                  # optional: seconds this command takes

Strings become bytes one character per byte (``"\\u0005"`` is byte 5);
``hex`` replies are hex digits, spaces allowed; a list of them is served in
turn, as ``replies`` are. Exact commands are looked up first, then ``match``
entries in file order; of two entries for one command, the first answers.
The reply of a ``match`` entry may name the regex's groups: ``{1}``,
``{name}``, ``{0}`` for the whole command (``{{`` and ``}}`` for braces).
Every mistake is reported as
``FILE:LINE: what is wrong; what to write instead``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socs_tcp.testing.device import FakeDevice
from socs_tcp.testing.faults import Faults
from socs_tcp.testing.framing import Framer, fixed_length, mbap
from socs_tcp.testing.responses import Handler, Key, Reply, Value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9 and 3.10
    import tomli as tomllib

__all__ = ["Dialogue", "DialogueError", "load_dialogue", "shipped_dialogues"]

#: Where the example dialogues shipped with the package live.
SHIPPED = Path(__file__).with_name("dialogues")

_TABLES = ("device", "faults", "responses")
_DEVICE_KEYS = (
    "name",
    "terminator",
    "reply_terminator",
    "framing",
    "size",
    "default",
    "host",
    "port",
)
_MATCH_KEYS = ("command", "match")
_REPLY_KEYS = ("reply", "replies", "hex", "silent")
_OPTIONAL_KEYS = ("delay",)


class DialogueError(ValueError):
    """A dialogue file that cannot be served; the message names file and line."""


@dataclass
class Dialogue:
    """A dialogue loaded from a file, ready to serve.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    responses : list of (key, value)
        The ``[[responses]]`` entries in file order, as :class:`FakeDevice`
        takes them; every device made from the dialogue counts the turns
        of its ``replies`` lists afresh.
    options : dict
        The other arguments of :class:`FakeDevice` (framing, terminators,
        default reply, name, host, port).
    faults : dict
        The faults from the ``[faults]`` table.
    """

    path: Path
    responses: list[tuple[Key, Value]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)

    def device(self, **overrides: Any) -> FakeDevice:
        """Start a :class:`FakeDevice` serving this dialogue.

        Parameters
        ----------
        **overrides
            Arguments that replace the file's, such as ``port=5025``.

        Returns
        -------
        FakeDevice
            The started device.
        """
        kwargs = {**self.options, **self.faults, **overrides}
        return FakeDevice(self.responses, **kwargs)


def shipped_dialogues() -> dict[str, Path]:
    """The example dialogues shipped with socs_tcp, by name.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"scpi_gauge": Path(...), ...}``.
    """
    return {path.stem: path for path in sorted(SHIPPED.glob("*.toml"))}


def load_dialogue(path: str | Path) -> Dialogue:
    """Read and check a dialogue file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    Dialogue
        The dialogue.

    Raises
    ------
    DialogueError
        The file is not UTF-8 text, not valid TOML or not a valid dialogue;
        the message names the file, the line and what to write instead.
    OSError
        The file cannot be read.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DialogueError(
            f"{path}:{line}: byte 0x{raw[exc.start]:02x} at column {column} is not "
            f"UTF-8 text; save the file as UTF-8, and write other bytes as "
            f'"\\u00XX" escapes or hex = "..."'
        ) from None
    return _Loader(path, text).load()


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""\s*("[^"]*"|'[^']*'|[\w-]+)\s*[.=]""")
_INLINE_KEY = re.compile(r"""("[^"]*"|'[^']*'|[\w-]+)\s*=""")


def _name(token: str) -> str:
    return token.strip("\"'")


def _lines(text: str) -> dict[tuple[str, int, str | None], int]:
    """Where each table, entry and key starts: ``(table, entry, key) -> line``.

    ``key`` None is the table's header; top-level keys are under table ``""``.
    Tables written as headers (``[device]``, ``[[responses]]``, sub-tables
    such as ``[device.name]``), dotted keys and inline tables in an array
    (``responses = [{ command = "A", reply = "a" }]``) are all found, so a
    mistake in any of them is reported on its own line.
    """
    where: dict[tuple[str, int, str | None], int] = {}
    entries: dict[str, int] = {}
    table, entry = "", 0
    inline: str | None = None  # the top-level array of inline tables we are in
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header and inline is None:
            parts = [_name(p.strip()) for p in header.group(2).split(".")]
            table = parts[0]
            if header.group(1) == "[[" and len(parts) == 1:
                entries[table] = entries.get(table, -1) + 1
            entry = max(entries.get(table, 0), 0)
            where.setdefault((table, entry, None), number)
            if len(parts) > 1:
                where.setdefault((table, entry, parts[1]), number)
            continue
        if inline is not None or (table == "" and re.match(r"[^=#]+=\s*\[", line)):
            if inline is None:
                key = _KEY.match(line)
                inline = _name(key.group(1)) if key else ""
                where.setdefault(("", 0, inline), number)
                entries[inline] = -1
            for segment in line.split("{")[1:]:
                entries[inline] += 1
                where.setdefault((inline, entries[inline], None), number)
                for found in _INLINE_KEY.finditer(segment):
                    spot = (inline, entries[inline], _name(found.group(1)))
                    where.setdefault(spot, number)
            if line.strip().startswith("]") or line.rstrip().endswith("]"):
                inline = None
            continue
        key = _KEY.match(line)
        if key:
            where.setdefault((table, entry, _name(key.group(1))), number)
    return where


class _Loader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.where = _lines(text)

    def fail(self, line: int, message: str) -> DialogueError:
        return DialogueError(f"{self.path}:{line}: {message}")

    def line_of(self, table: str, key: str | None = None, index: int = 0) -> int:
        """The line of ``key`` in ``[table]`` (the ``index``-th ``[[table]]``)."""
        for spot in ((table, index, key), (table, index, None), ("", 0, table)):
            if spot in self.where:
                return self.where[spot]
        return 1

    def load(self) -> Dialogue:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            raise self.fail(
                int(found.group(1)) if found else 1,
                f"not valid TOML: {exc}; strings are quoted, "
                f'e.g. reply = "1.2E-3", and escapes such as "\\r\\n" need '
                f"double quotes",
            ) from None
        for name in data:
            if name not in _TABLES:
                raise self.fail(
                    self.top_line(name),
                    f"unknown table or key {name!r}; a dialogue has the tables "
                    f"[device], [faults] and [[responses]]",
                )
        dialogue = Dialogue(self.path)
        device = self.table(data, "device")
        self.device(device, dialogue)
        faults = self.table(data, "faults")
        self.faults(faults, dialogue)
        entries = data.get("responses", [])
        if not isinstance(entries, list):
            raise self.fail(
                self.line_of("responses"),
                "responses must be [[responses]] entries, one per command",
            )
        for index, entry in enumerate(entries):
            dialogue.responses.append(self.entry(index, entry))
        return dialogue

    def top_line(self, name: str) -> int:
        """The line where the top-level table or key ``name`` starts."""
        return self.where.get(("", 0, name), self.where.get((name, 0, None), 1))

    def table(self, data: Mapping[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(self.top_line(name), f"{name} must be a [{name}] table")
        return value

    def to_bytes(self, value: object, line: int, what: str) -> bytes:
        if not isinstance(value, str):
            raise self.fail(
                line,
                f"{what} must be a string, not {type(value).__name__} {value!r}; "
                f'write {what} = "..."',
            )
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise self.fail(
                line,
                f"{what} {value!r} has characters that are not bytes (above "
                f'\\u00ff); write bytes as "\\u00XX" escapes or use hex = "..."',
            ) from None

    def device(self, table: dict[str, Any], dialogue: Dialogue) -> None:
        options = dialogue.options
        for key, value in table.items():
            line = self.line_of("device", key)
            if key not in _DEVICE_KEYS:
                raise self.fail(
                    line,
                    f"unknown key {key!r} in [device]; the keys are "
                    f"{', '.join(_DEVICE_KEYS)}",
                )
            if key in ("terminator", "reply_terminator", "default"):
                options[key] = self.to_bytes(value, line, key)
            elif key in ("name", "host"):
                if not isinstance(value, str):
                    raise self.fail(line, f'{key} must be a string: {key} = "..."')
                options[key] = value
            elif key == "port":
                if not isinstance(value, int) or not 0 <= value <= 65535:
                    raise self.fail(line, f"port must be 0 to 65535, not {value!r}")
                options[key] = value
        framing = table.get("framing")
        if framing is None:
            if "size" in table:
                raise self.fail(
                    self.line_of("device", "size"),
                    'size is for framing = "fixed"; add that line',
                )
            if options.get("terminator") == b"":
                raise self.fail(
                    self.line_of("device", "terminator"),
                    'terminator = "" frames nothing; write a terminator such as '
                    '"\\r\\n", or framing = "mbap" or "fixed"',
                )
            return
        line = self.line_of("device", "framing")
        if "terminator" in table:
            raise self.fail(line, "framing replaces the terminator; remove one")
        framer: Framer
        if framing == "mbap":
            framer = mbap()
        elif framing == "fixed":
            size = table.get("size")
            if not isinstance(size, int) or size < 1:
                raise self.fail(
                    self.line_of("device", "size") if "size" in table else line,
                    'framing = "fixed" needs size = N, the bytes per command',
                )
            framer = fixed_length(size)
        else:
            raise self.fail(
                line,
                f'unknown framing {framing!r}; write framing = "mbap" (Modbus '
                f'TCP), framing = "fixed" with size = N, or a terminator',
            )
        options["terminator"] = None
        options["framer"] = framer

    def faults(self, table: dict[str, Any], dialogue: Dialogue) -> None:
        names = Faults.names()
        for key, value in table.items():
            line = self.line_of("faults", key)
            if key not in names:
                raise self.fail(
                    line,
                    f"unknown fault {key!r}; the faults are {', '.join(names)}",
                )
            if key == "garbage":
                value = self.to_bytes(value, line, key)
            try:
                Faults.of({key: value})
            except (TypeError, ValueError) as exc:
                raise self.fail(line, str(exc)) from None
            dialogue.faults[key] = value

    def entry(self, index: int, entry: object) -> tuple[Key, Value]:
        start = self.line_of("responses", None, index)
        if not isinstance(entry, dict):
            raise self.fail(
                start,
                f"each [[responses]] entry must be a table, not "
                f"{type(entry).__name__} {entry!r}; write [[responses]] and "
                f"its keys on the lines below",
            )
        for name in entry:
            if name not in _MATCH_KEYS + _REPLY_KEYS + _OPTIONAL_KEYS:
                raise self.fail(
                    self.line_of("responses", name, index),
                    f"unknown key {name!r} in [[responses]]; write command = or "
                    f"match =, then one of reply =, replies =, hex =, silent = "
                    f"true, and delay = S if the command takes longer",
                )
        key, value = self.reply_of(index, entry, start)
        if "delay" not in entry:
            return key, value
        line = self.line_of("responses", "delay", index)
        delay = entry["delay"]
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise self.fail(line, f"delay must be seconds, not {delay!r}: delay = 0.5")
        try:
            Reply(b"", delay)
        except ValueError as exc:
            raise self.fail(line, str(exc)) from None
        return key, _delayed(value, float(delay))

    def reply_of(
        self, index: int, entry: dict[str, Any], start: int
    ) -> tuple[Key, Value]:
        how = self.one_of(
            entry,
            _MATCH_KEYS,
            start,
            "command = \"...\" (the exact command) or match = '...' (a regex)",
        )
        kind = self.one_of(
            entry,
            _REPLY_KEYS,
            start,
            'reply = "...", replies = ["...", ...], hex = "..." or silent = true',
        )
        line = self.line_of("responses", how, index)
        text = self.to_bytes(entry[how], line, how)
        pattern: re.Pattern[bytes] | None = None
        key: Any = text
        if how == "match":
            try:
                pattern = re.compile(text, re.DOTALL)
            except re.error as exc:
                raise self.fail(
                    line,
                    f"bad regex {entry[how]!r}: {exc}; write a Python regex in "
                    f"single quotes ('...') so backslashes stay as they are",
                ) from None
            key = pattern
        line = self.line_of("responses", kind, index)
        value = entry[kind]
        if kind == "silent":
            if value is not True:
                raise self.fail(line, "silent must be true (no reply), or removed")
            return key, None
        if kind == "replies":
            if not isinstance(value, list) or not value:
                raise self.fail(line, 'replies must be a list: replies = ["a", "b"]')
            replies = [self.to_bytes(item, line, "each reply") for item in value]
            if pattern is None:
                return key, replies
            return key, [self.template(r, pattern, line, False) for r in replies]
        if kind == "hex":
            if isinstance(value, list) and value:
                return key, [self.one_hex(item, pattern, line) for item in value]
            return key, self.one_hex(value, pattern, line)
        raw = self.to_bytes(value, line, "reply")
        if pattern is None:
            return key, raw
        return key, self.template(raw, pattern, line, False)

    def one_hex(
        self, value: object, pattern: re.Pattern[bytes] | None, line: int
    ) -> bytes | Handler:
        """One ``hex`` reply: bytes, or a handler filling in the match's groups."""
        if not isinstance(value, str):
            raise self.fail(
                line,
                'hex must be a string or a list of strings: hex = "01 03 02 00 2a"',
            )
        if pattern is None:
            return self.hex(value, line)
        return self.template(value.encode("latin-1", "replace"), pattern, line, True)

    def one_of(
        self, entry: dict[str, Any], keys: tuple[str, ...], line: int, choices: str
    ) -> str:
        """The one key of ``keys`` that ``entry`` has; ``choices`` says which."""
        present = [key for key in keys if key in entry]
        if len(present) != 1:
            raise self.fail(
                line, f"each [[responses]] entry needs exactly one of {choices}"
            )
        return present[0]

    def hex(self, text: str, line: int) -> bytes:
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise self.fail(
                line,
                f"hex {text!r} is not pairs of hex digits; write e.g. "
                f'hex = "01 04 02 00 2a"',
            ) from None

    def template(
        self, raw: bytes, pattern: re.Pattern[bytes], line: int, is_hex: bool
    ) -> Handler:
        """A handler filling ``{1}``, ``{name}`` and ``{0}`` from the match."""
        parts: list[bytes | int | str] = []
        for piece in re.split(rb"(\{\{|\}\}|\{\w*\})", raw):
            if piece in (b"{{", b"}}"):
                parts.append(self.literal(piece[:1], line, is_hex, brace=True))
            elif piece.startswith(b"{"):
                ref = piece[1:-1].decode("latin-1")
                if ref.isdigit() and int(ref) <= pattern.groups:
                    parts.append(int(ref))
                elif ref in pattern.groupindex:
                    parts.append(ref)
                else:
                    raise self.fail(
                        line,
                        f"{{{ref}}} names no group of the regex (it has "
                        f"{pattern.groups}); write {{1}}, {{name}} or {{0}}",
                    )
            elif piece:
                parts.append(self.literal(piece, line, is_hex))

        def fill(command: bytes, match: re.Match[bytes] | None) -> bytes | Reply:
            assert match is not None
            out = b""
            for part in parts:
                out += part if isinstance(part, bytes) else match.group(part) or b""
            return out

        return fill

    def literal(
        self, piece: bytes, line: int, is_hex: bool, brace: bool = False
    ) -> bytes:
        if not is_hex:
            return piece
        if brace:
            raise self.fail(line, "hex replies have no braces; write hex digits")
        return self.hex(piece.decode("latin-1"), line)


def _delayed(value: Value, delay: float) -> Value:
    """``value`` with every reply it gives held back ``delay`` seconds."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_delayed(item, delay) for item in value]  # type: ignore[misc]
    if isinstance(value, bytes):
        return Reply(value, delay)
    assert callable(value)
    handler = value

    def later(command: bytes, match: re.Match[bytes] | None) -> bytes | Reply | None:
        reply = handler(command, match)
        data = reply.data if isinstance(reply, Reply) else reply
        return None if data is None else Reply(data, delay)

    return later
