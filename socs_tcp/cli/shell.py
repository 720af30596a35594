"""``python -m socs_tcp shell HOST:PORT``: an interactive terminal for a device.

Each line typed is sent with the terminator; the reply is shown with the
time it took. Line editing and history come from ``readline`` where Python
has it. Lines starting with ``:`` are for the shell itself (``:help``).
"""

from __future__ import annotations

import argparse
import cmd
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from socs_tcp import TCPInterface, TransportTimeout
from socs_tcp.cli import _device

#: Where the history of commands is kept between sessions.
HISTORY = Path("~/.socs_tcp_history")

HELP = """\
Type a command to send it; escapes: \\r \\n \\t \\xNN \\\\.
Shell commands:
  :hex               show replies as a hex dump
  :text              show replies as text (binary ones still in hex)
  :terminator T      appended to commands, and what ends a reply ('' for none)
  :reply T           what ends a reply, if not the terminator
  :timeout S         seconds to wait for a reply
  :read              show what the device sent unasked
  :help              this text
  :quit              leave (or Ctrl-D)"""


class Shell(cmd.Cmd):
    """The terminal: one device, one connection, replies with their timing.

    Parameters
    ----------
    iface : TCPInterface
        The connection to the device.
    terminator : bytes
        Appended to each command; also what ends a reply unless ``reply``
        says otherwise. Empty: the reply is what arrives until the device
        falls quiet.
    reply : bytes or None
        What ends a reply, if not ``terminator``.
    timeout : float
        Seconds to wait for each reply.
    hex_view : bool
        Show every reply as a hex dump.
    stdin, stdout : file, optional
        Where lines come from and output goes (default: the terminal).
    """

    def __init__(
        self,
        iface: TCPInterface,
        terminator: bytes = b"\n",
        reply: bytes | None = None,
        timeout: float = 2.0,
        hex_view: bool = False,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
    ) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.use_rawinput = stdin is None
        self.iface = iface
        self.terminator = terminator
        self.reply = reply
        self.timeout = timeout
        self.hex_view = hex_view
        self.prompt = f"{iface.ip_address}:{iface.port}> "

    def say(self, text: str) -> None:
        """Write a line of output.

        Parameters
        ----------
        text : str
            The line.
        """
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def emptyline(self) -> bool:
        """Do nothing for an empty line (``cmd`` would repeat the last one).

        Returns
        -------
        bool
            False: keep going.
        """
        return False

    def onecmd(self, line: str) -> bool:
        """Send ``line`` to the device, or run a ``:`` shell command.

        Parameters
        ----------
        line : str
            What was typed.

        Returns
        -------
        bool
            True to leave the shell.
        """
        line = line.rstrip("\r\n")
        if line == "EOF":
            self.say("")
            return True
        if not line.strip():
            return False
        if line.startswith(":"):
            return self.meta(line[1:].strip())
        try:
            command = _device.unescape(line)
        except ValueError as exc:
            self.say(f"error: {exc}")
            return False
        self.show_unasked()
        self.exchange(command)
        return False

    def exchange(self, command: bytes) -> None:
        """Send one command and show the reply and how long it took.

        Parameters
        ----------
        command : bytes
            The command, without terminator.
        """
        ends = self.terminator if self.reply is None else self.reply
        began = time.perf_counter()
        try:
            self.iface.send(command + self.terminator)
            reply = _device.read_reply(self.iface, ends, None, self.timeout)
        except TransportTimeout:
            self.say(f"(no reply within {self.timeout:g} s)")
            return
        except ConnectionError as exc:
            self.say(f"error: {exc}; the next command reconnects")
            return
        took = (time.perf_counter() - began) * 1000
        if not reply:
            self.say("(the device closed the connection; the next command reconnects)")
            return
        if ends and reply.endswith(ends):
            reply = reply[: -len(ends)]
        hex_view = self.hex_view or _device.is_binary(reply)
        shown = _device.render(reply, hex_view)
        if hex_view:
            self.say(f"{shown}\n({len(reply)} bytes in {took:.1f} ms)")
        else:
            self.say(f"{shown}    ({took:.1f} ms)")

    def show_unasked(self) -> None:
        """Show bytes that arrived while no command was waiting."""
        unasked = b""
        try:
            while _device.arrived(self.iface, 0):
                chunk = self.iface.recv(65536)
                if not chunk:
                    break
                unasked += chunk
        except ConnectionError:
            pass  # the next command says so
        if unasked:
            hex_view = self.hex_view or _device.is_binary(unasked)
            self.say(f"(unasked) {_device.render(unasked, hex_view)}")

    def meta(self, line: str) -> bool:
        """Run a shell command (the text after ``:``).

        Parameters
        ----------
        line : str
            The command and its argument.

        Returns
        -------
        bool
            True to leave the shell.
        """
        name, _, value = line.partition(" ")
        value = value.strip()
        if value[:1] == value[-1:] and value[:1] in ("'", '"') and len(value) >= 2:
            value = value[1:-1]
        try:
            if name in ("quit", "exit", "q"):
                return True
            if name == "hex":
                self.hex_view = True
            elif name == "text":
                self.hex_view = False
            elif name == "terminator":
                self.terminator = _device.unescape(value)
            elif name == "reply":
                self.reply = _device.unescape(value) if value else None
            elif name == "timeout":
                self.timeout = float(value)
            elif name == "read":
                self.show_unasked()
                return False
            elif name == "help":
                self.say(HELP)
                return False
            else:
                self.say(f"unknown shell command :{name}; :help lists them")
                return False
        except ValueError as exc:
            self.say(f"error: {exc}")
            return False
        self.say(f"({self.settings()})")
        return False

    def settings(self) -> str:
        """The current settings, in one line.

        Returns
        -------
        str
            Terminators, timeout and view.
        """
        reply = self.terminator if self.reply is None else self.reply
        return (
            f"terminator {_device.render(self.terminator, False) or 'none'}, "
            f"reply ends {_device.render(reply, False) or 'when quiet'}, "
            f"timeout {self.timeout:g} s, {'hex' if self.hex_view else 'text'} view"
        )


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``shell`` sub-parser to ``commands``.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The sub-parsers of ``python -m socs_tcp``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    shell: argparse.ArgumentParser = commands.add_parser(
        "shell",
        help="an interactive terminal for a device",
        description="An interactive terminal for a device: type commands, see "
        "replies and how long they took. :help inside lists its commands.",
    )
    _device.add_device_arguments(shell)
    shell.add_argument(
        "--history",
        default=str(HISTORY),
        metavar="PATH",
        help=f"history file (default {HISTORY}); '' for none",
    )
    return shell


def _readline_history(path: str) -> Any:
    """Load the history into ``readline``; return the module, or None."""
    if not path or not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:  # pragma: no cover - Python built without readline
        return None
    readline.set_history_length(1000)
    try:
        readline.read_history_file(os.path.expanduser(path))
    except OSError:
        pass  # no history yet
    return readline


def run(args: argparse.Namespace) -> int:
    """Run the ``shell`` command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        0 when the user leaves, 1 if the device cannot be reached.
    """
    host, port = args.address
    iface = _device.open_device(host, port, args.timeout)
    if iface is None:
        return 1
    shell = Shell(iface, args.terminator, args.reply_terminator, args.timeout, args.hex)
    readline = _readline_history(args.history)
    shell.intro = f"connected to {host}:{port} ({shell.settings()}); :help for help"
    try:
        shell.cmdloop()
    except KeyboardInterrupt:
        print()
    finally:
        iface.close()
        if readline is not None:
            try:
                readline.write_history_file(os.path.expanduser(args.history))
            except OSError as exc:
                print(f"warning: history not saved: {exc}", file=sys.stderr)
    return 0
