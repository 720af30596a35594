"""What a proxy saw, written as a dialogue file that ``load_dialogue`` replays.

Each command is written once, as a ``[[responses]]`` entry, in the order it
first came: with the one reply it always got, or with every reply it got in
turn (``replies = [...]``, served in the same order when replayed), or
``silent = true`` if it never got one. Replies that are not text are written
as ``hex``; commands, as strings with ``\\u00XX`` escapes for other bytes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["Recording", "toml_string"]

_ESCAPED = {ord('"'): '\\"', ord("\\"): "\\\\", 9: "\\t", 10: "\\n", 13: "\\r"}
_TEXT = frozenset(range(0x20, 0x7F)) | {9, 10, 13}


def toml_string(data: bytes) -> str:
    """``data`` as a TOML string that a dialogue reads back as the same bytes.

    Parameters
    ----------
    data : bytes
        A command, reply or terminator.

    Returns
    -------
    str
        A double-quoted TOML string; bytes other than printable ASCII are
        ``\\u00XX`` escapes (a dialogue reads one character per byte).
    """
    out = []
    for byte in data:
        if byte in _ESCAPED:
            out.append(_ESCAPED[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\u{byte:04x}")
    return '"' + "".join(out) + '"'


class Recording:
    """The commands a proxy forwarded and the reply each one got, in order.

    Commands and replies are added from the proxy's thread; :meth:`text`
    may be called from any thread.

    Parameters
    ----------
    title : str
        A comment for the file's first line (where it was recorded).
    name : str
        The device's name in ``[device]``.
    terminator, reply_terminator : bytes
        What ends commands and replies.
    """

    def __init__(
        self, title: str, name: str, terminator: bytes, reply_terminator: bytes
    ) -> None:
        self.title = title
        self.name = name
        self.terminator = terminator
        self.reply_terminator = reply_terminator
        self._exchanges: list[tuple[bytes, list[bytes]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._exchanges)

    def command(self, command: bytes) -> list[bytes]:
        """Add ``command``; return the list its reply's frames go into.

        Parameters
        ----------
        command : bytes
            The command, without its terminator.

        Returns
        -------
        list of bytes
            Append each frame of the reply (without terminator) to it.
        """
        frames: list[bytes] = []
        with self._lock:
            self._exchanges.append((command, frames))
        return frames

    def text(self) -> str:
        """The dialogue file's text.

        Returns
        -------
        str
            TOML that :func:`~socs_tcp.testing.load_dialogue` reads.
        """
        terminator, reply_terminator = self.terminator, self.reply_terminator
        replies: dict[bytes, list[bytes | None]] = {}
        with self._lock:
            for command, frames in self._exchanges:
                reply = reply_terminator.join(frames) if frames else None
                replies.setdefault(command, []).append(reply)
        name = toml_string(self.name.encode("latin-1", "replace"))
        lines = [f"# {self.title}", "", "[device]", f"name = {name}"]
        lines.append(f"terminator = {toml_string(terminator)}")
        if reply_terminator != terminator:
            lines.append(f"reply_terminator = {toml_string(reply_terminator)}")
        for command, got in replies.items():
            lines += ["", "[[responses]]", f"command = {toml_string(command)}"]
            lines.append(_reply_line([r for r in got if r is not None]))
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        """Write :meth:`text` to ``path``, replacing the file in one step.

        Parameters
        ----------
        path : str or pathlib.Path
            The dialogue file.
        """
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(self.text(), encoding="utf-8")
        os.replace(partial, path)


def _reply_line(replies: list[bytes]) -> str:
    """The reply key of one entry: what the command got, each time in turn."""
    if not replies:
        return "silent = true"
    if all(_TEXT.issuperset(reply) for reply in replies):
        if len(set(replies)) == 1:
            return f"reply = {toml_string(replies[0])}"
        return "replies = [" + ", ".join(toml_string(r) for r in replies) + "]"
    shown = [f'"{reply.hex(" ")}"' for reply in replies]
    if len(set(replies)) == 1:
        return f"hex = {shown[0]}"
    return "hex = [" + ", ".join(shown) + "]"
