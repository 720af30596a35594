"""``python -m socs_tcp shell HOST:PORT``: an interactive terminal for a device.

Each line typed is sent with the terminator; the reply is shown with the
time it took. Every command goes through :meth:`TCPInterface.query`, so a
reply that comes too late is never shown as the next command's. Line editing
and history come from ``readline`` where Python has it.

The shell's own commands start with ``%`` and a lower-case word (``%help``);
every other line, ``:MEAS:VOLT?`` or ``%01#RCS`` included, is sent, and
``%send LINE`` sends any line as typed. Ctrl-C cancels the line being typed
or the wait for a reply; Ctrl-D (or ``%quit``) leaves.

With stdin not a terminal (``printf 'PR1\\n' | ... shell``) there are no
prompts: stdout carries the replies alone, everything else goes to stderr,
and Ctrl-C stops the shell.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import termios
import time
from pathlib import Path
from typing import IO, Any

from socs_tcp import TCPInterface
from socs_tcp.cli import _args, _device
from socs_tcp.errors import TransportError

#: Where the history of commands is kept between sessions.
HISTORY = Path("~/.socs_tcp_history")

#: What starts the shell's own commands: no instrument command is ``%``
#: followed by a lower-case word (and ``%send`` sends one that is).
PREFIX = "%"
_OWN = re.compile(r"%([a-z]+)(?:\s+(.*))?\Z", re.DOTALL)

HELP = f"""\
Type a command to send it; escapes: {_args.ESCAPES_HELP}.
Lines that start with % and a lower-case word are the shell's own commands;
every other line is sent as typed.
  %send LINE         send LINE as typed, whatever it starts with
  %hex               show replies as a hex dump
  %text              show replies as text (binary ones still in hex)
  %terminator T      appended to commands, and what ends a reply ('' for none)
  %reply T           what ends a reply, if not the terminator ('' to reset)
  %timeout S         seconds to wait for a reply (above 0)
  %read              show what the device sent unasked
  %help              this text
  %quit              leave (or Ctrl-D)
Ctrl-C cancels the line, or the wait for a reply.
Exit status: 0 if every command got its reply, 1 if any did not (or a line
was refused), 130 after Ctrl-C when stdin is not a terminal."""


class _Notes(logging.Handler):
    """Shows the library's INFO and WARNING lines (a reconnection, a late
    reply discarded) where the shell shows its own notes."""

    def __init__(self, shell: Shell) -> None:
        super().__init__(logging.INFO)
        self.shell = shell

    def emit(self, record: logging.LogRecord) -> None:
        self.shell.note(f"({record.getMessage()})")


class Shell:
    """The terminal: one device, one connection, replies with their timing.

    Parameters
    ----------
    iface : TCPInterface
        The connection to the device, from :func:`_device.open_device`.
    frame : Framing
        How commands are sent and replies read; the shell changes it.
    timeout : float
        Seconds to wait for each reply.
    hex_view : bool
        Show every reply as a hex dump.
    stdin, stdout, stderr : file, optional
        Where lines come from, replies go, and notes go when ``stdin`` is
        not a terminal (default: the process's).
    """

    def __init__(
        self,
        iface: TCPInterface,
        frame: _device.Framing,
        timeout: float = 2.0,
        hex_view: bool = False,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.iface = iface
        self.frame = frame
        self.timeout = timeout
        self.hex_view = hex_view
        self.stdin = sys.stdin if stdin is None else stdin
        self.stdout = sys.stdout if stdout is None else stdout
        self.interactive = self.stdin.isatty()
        self.notes = self.stdout if self.interactive else (stderr or sys.stderr)
        self.prompt = f"{_args.format_address(iface.ip_address, iface.port)}> "
        self.failed = 0  # lines that got no reply, or were refused
        self.owed = False  # the last command's reply never came

    # -- output ----------------------------------------------------------

    def say(self, text: str) -> None:
        """Write a reply to stdout.

        Parameters
        ----------
        text : str
            The line.
        """
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Write anything but a reply: to stdout at a terminal, else stderr.

        Parameters
        ----------
        text : str
            The line.
        """
        self.notes.write(text + "\n")
        self.notes.flush()

    def refuse(self, text: str) -> bool:
        """Note an error in a line, and count it.

        Parameters
        ----------
        text : str
            What is wrong and what to type.

        Returns
        -------
        bool
            False: keep going.
        """
        self.failed += 1
        self.note(f"error: {text}")
        return False

    # -- the loop --------------------------------------------------------

    def cmdloop(self, intro: str | None = None) -> int:
        """Read and run lines until Ctrl-D or ``%quit``; return the exit status.

        Parameters
        ----------
        intro : str, optional
            Shown first, at a terminal only.

        Returns
        -------
        int
            0 if every command got its reply, else 1.

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C, when stdin is not a terminal.
        """
        if intro and self.interactive:
            self.note(intro)
        notes = _Notes(self)
        logger = logging.getLogger("socs_tcp")
        level = logger.level
        logger.addHandler(notes)
        logger.setLevel(logging.INFO)
        try:
            while True:
                try:
                    line = self.readline()
                    if line is None or self.onecmd(line):
                        break
                except KeyboardInterrupt:
                    if not self.interactive:
                        raise
                    _drop_typed_line()
                    self.note("")  # a new line after ^C, then the prompt
        finally:
            logger.removeHandler(notes)
            logger.setLevel(level)
        return _args.FAILED if self.failed else _args.OK

    def readline(self) -> str | None:
        """The next line, or None at the end of input (Ctrl-D).

        Returns
        -------
        str or None
            The line, without its line end.
        """
        if self.interactive and self.stdin is sys.stdin:
            try:
                return input(self.prompt)
            except EOFError:
                self.note("")
                return None
        line = self.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def onecmd(self, line: str) -> bool:
        """Send ``line`` to the device, or run a ``%`` shell command.

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
        own = _OWN.match(line)
        if own:
            return self.meta(own.group(1), (own.group(2) or "").strip())
        if line.strip():
            self.send(line)
        return False

    def send(self, line: str) -> None:
        """Send a typed line (escapes decoded) and show the reply.

        Parameters
        ----------
        line : str
            The command as typed, without terminator.
        """
        try:
            command = _args.unescape(line)
        except ValueError as exc:
            self.refuse(str(exc))
            return
        if not self.exchange(command):
            self.failed += 1

    def exchange(self, command: bytes) -> bool:
        """Send one command and show its reply and how long it took.

        Parameters
        ----------
        command : bytes
            The command, without terminator.

        Returns
        -------
        bool
            Whether the reply came.
        """
        if not self.owed:  # else query() settles the late reply itself
            self.show_unasked()
        began = time.perf_counter()
        self.owed = True  # until the reply is shown; also after Ctrl-C
        try:
            reply = _device.ask(self.iface, command, self.frame, self.timeout)
        except KeyboardInterrupt:
            if not self.interactive:
                raise
            self.note("(cancelled)")
            return False
        except TransportError as exc:
            self.note(f"({_device.explain(exc, self.frame, '%reply')})")
            return False
        except ConnectionError as exc:
            self.note(f"(error: {exc}; the next command reconnects)")
            return False
        took = (time.perf_counter() - began) * 1000
        if not reply.data:
            self.note("(the device closed the connection; the next command reconnects)")
            return False
        self.owed = False
        self.show(reply, took)
        return True

    def show(self, reply: _device.Reply, took: float) -> None:
        """Show a reply; with its timing at a terminal.

        Parameters
        ----------
        reply : Reply
            The reply.
        took : float
            Milliseconds from sending to the end of the reply.
        """
        hex_view = self.hex_view or _device.is_binary(reply.data)
        shown = _device.render(reply.data, hex_view)
        if not self.interactive:
            self.say(shown)
        elif hex_view:
            self.say(f"{shown}\n({len(reply.data)} bytes in {took:.1f} ms)")
        else:
            self.say(f"{shown}    ({took:.1f} ms)")
        if reply.cut:
            self.note(f"(cut short: {reply.cut})")

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
            self.note(f"(unasked) {_device.render(unasked, hex_view)}")

    def meta(self, name: str, value: str) -> bool:
        """Run a shell command.

        Parameters
        ----------
        name : str
            The word after ``%``.
        value : str
            The rest of the line.

        Returns
        -------
        bool
            True to leave the shell.
        """
        if name == "send":
            if value:
                self.send(value)
            return False
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
                self.frame.terminator = _args.unescape(value)
            elif name == "reply":
                self.frame.reply = _args.unescape(value) if value else None
            elif name == "timeout":
                self.timeout = _args.parse_seconds(value)
            elif name == "read":
                self.show_unasked()
                return False
            elif name == "help":
                self.note(HELP)
                return False
            else:
                return self.refuse(
                    f"unknown shell command %{name}; %help lists them, and "
                    f"%send %{name} sends it to the device"
                )
        except ValueError as exc:
            return self.refuse(str(exc))
        self.note(f"({self.settings()})")
        return False

    def settings(self) -> str:
        """The current settings, in one line.

        Returns
        -------
        str
            Terminators, timeout and view.
        """
        return (
            f"{self.frame.describe()}, timeout {self.timeout:g} s, "
            f"{'hex' if self.hex_view else 'text'} view"
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
        "replies and how long they took. %%help inside lists its commands. "
        "Exit status: 0 if every command got its reply, 1 if any did not or "
        "the device cannot be reached, 2 for a bad command line, 130 after "
        "Ctrl-C when stdin is not a terminal.",
    )
    _device.add_device_arguments(shell)
    shell.add_argument(
        "--history",
        default=str(HISTORY),
        metavar="PATH",
        help=f"history file (default {HISTORY}); '' for none",
    )
    return shell


def _readline(path: str) -> Any:
    """At a terminal, line editing from ``readline``, with the history at ``path``.

    Returns the module, or None when stdin is not a terminal or Python has
    no ``readline``.
    """
    if not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:  # pragma: no cover - Python built without readline
        return None
    readline.set_history_length(1000)
    if path:
        try:
            readline.read_history_file(os.path.expanduser(path))
        except OSError:
            pass  # no history yet
    return readline


def _drop_typed_line() -> None:
    """Drop what the terminal holds of a line not yet entered (after Ctrl-C).

    ``readline`` drops its own line; without it the terminal keeps the
    characters, and they would start the next line.
    """
    try:
        termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
    except (OSError, ValueError, termios.error):
        pass  # not a terminal after all


def run(args: argparse.Namespace) -> int:
    """Run the ``shell`` command.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        0 if every command got its reply, 1 if any did not or the device
        cannot be reached.
    """
    host, port = args.address
    iface = _device.open_device(host, port, args.timeout)
    if iface is None:
        return _args.FAILED
    shell = Shell(iface, _device.framing(args), args.timeout, args.hex)
    readline = _readline(args.history)
    label = _args.format_address(host, port)
    try:
        return shell.cmdloop(
            f"connected to {label} ({shell.settings()}); %help for help"
        )
    finally:
        iface.close()
        if readline is not None and args.history:
            try:
                readline.write_history_file(os.path.expanduser(args.history))
            except OSError as exc:
                print(f"warning: history not saved: {exc}", file=sys.stderr)
