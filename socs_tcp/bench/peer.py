"""The benchmark's device: a loopback server in a process of its own.

A separate process leaves the client under test its own interpreter and GIL.
Modes: ``echo`` sends back whatever arrives (one thread serves every
connection from a selector); ``stream`` reads a decimal byte count and a
newline, sends that many bytes and closes; ``lines`` does the same with
64-byte records ending in ``b"\\n"``; ``block`` answers every line it
receives with a 1 MiB IEEE 488.2 definite-length block (``#71048576``, data
holding every byte value, terminators included, then ``b"\\n"``).

``python -m socs_tcp.bench.peer MODE`` prints its port on 127.0.0.1 and serves until its
stdin closes (it dies with its parent) or its lifetime ends.
"""

from __future__ import annotations

import argparse
import os
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType

MODES = ("echo", "stream", "lines", "block")
RECORD_SIZE = 64  #: bytes per line record, newline included
BLOCK_SIZE = 1 << 20  #: data bytes of the ``block`` mode's reply
LIFETIME = 900.0  #: seconds a peer serves at most
_BLOCK = 1 << 20


def record(index: int) -> bytes:
    """The ``index``-th 64-byte line record, newline included."""
    return b"%016d %046s\n" % (index, b"socs_tcp benchmark record")


def _stream(conn: socket.socket, block: bytes) -> None:
    with conn:
        conn.settimeout(10.0)
        try:
            header = b""
            while not header.endswith(b"\n") and len(header) < 32:
                chunk = conn.recv(32)
                if not chunk:
                    return
                header += chunk
            left, view = int(header), memoryview(block)
            while left:
                n = min(left, len(view))
                conn.sendall(view[:n])
                left -= n
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(_BLOCK):  # the client closes first: no reset
                pass
        except (OSError, ValueError):
            pass


def block_reply() -> bytes:
    """The ``block`` mode's reply: header, :data:`BLOCK_SIZE` bytes, newline."""
    length = b"%d" % BLOCK_SIZE
    data = bytes(range(256)) * (BLOCK_SIZE // 256)
    return b"#%d%s%s\n" % (len(length), length, data)


def _blocks(conn: socket.socket, reply: bytes) -> None:
    """Answer each line ``conn`` sends with ``reply``, until it closes."""
    with conn:
        conn.settimeout(10.0)
        pending = b""
        try:
            while chunk := conn.recv(4096):
                pending += chunk
                for _ in range(pending.count(b"\n")):
                    conn.sendall(reply)
                pending = pending[pending.rfind(b"\n") + 1 :]
        except OSError:
            pass


def _echo(conn: socket.socket) -> bool:
    """Echo what ``conn`` holds; False once the client has gone."""
    try:
        data = conn.recv(65536)
        if data:
            conn.settimeout(10.0)  # a short send waits for the client, bounded
            conn.sendall(data)
            conn.setblocking(False)
        return bool(data)
    except BlockingIOError:
        return True
    except OSError:
        return False


def serve(listener: socket.socket, mode: str, lifetime: float, watch: int) -> None:
    """Serve ``listener`` in ``mode`` until ``watch`` reaches EOF or time is up."""
    deadline = time.monotonic() + lifetime
    if mode == "stream":
        block = bytes(range(256)) * (_BLOCK // 256)
    elif mode == "block":
        block = block_reply()
    else:  # lines (echo never sends it)
        block = b"".join(record(i) for i in range(_BLOCK // RECORD_SIZE))
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    sel.register(watch, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            for key, _ in sel.select(deadline - time.monotonic()):
                if key.fileobj == watch:
                    if not os.read(watch, 4096):
                        return
                elif key.fileobj is listener:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if mode == "echo":
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ)
                    else:
                        one = _blocks if mode == "block" else _stream
                        args = (conn, block)
                        threading.Thread(target=one, args=args, daemon=True).start()
                elif isinstance(key.fileobj, socket.socket) and not _echo(key.fileobj):
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
    finally:
        sel.close()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m socs_tcp.bench.peer MODE [--lifetime SECONDS]``."""
    parser = argparse.ArgumentParser(prog="python -m socs_tcp.bench.peer")
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--lifetime", type=float, default=LIFETIME)
    args = parser.parse_args(argv)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        print(listener.getsockname()[1], flush=True)
        serve(listener, args.mode, args.lifetime, sys.stdin.fileno())


def end(proc: subprocess.Popen[bytes]) -> None:
    """End a child that serves until EOF on its stdin: close its pipes, wait.

    One that has not exited within 5 s is killed.
    """
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Peer:
    """A peer process in ``mode``; :meth:`close` (or ``with``) stops it.

    Attributes
    ----------
    address : tuple of (str, int)
        Where to connect.
    pid : int
        The peer's process id.
    """

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        cmd = [sys.executable, "-m", __name__, mode]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.pid = self._proc.pid
        assert self._proc.stdout is not None
        ready = select.select([self._proc.stdout], [], [], 30.0)[0]
        line = os.read(self._proc.stdout.fileno(), 64) if ready else b""
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"the {mode} peer did not start (said {line!r})")
        self.address = ("127.0.0.1", int(line))

    def close(self) -> None:
        """Close the peer's stdin, wait for it to exit, and kill it if it won't."""
        end(self._proc)

    def __enter__(self) -> Peer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":
    main()
