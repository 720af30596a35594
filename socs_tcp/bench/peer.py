"""The benchmark peer: a small loopback server in a process of its own.

Running the device side in another process leaves the client under test its
own core and its own GIL. Modes, one per process:

``echo``
    Send back whatever arrives (request/reply workloads). One thread serves
    every connection from an ``epoll`` (or ``poll``) loop, so many devices
    cost no GIL hand-offs in the peer.
``stream``
    Read a decimal byte count and a newline, send that many bytes, then
    close (stream-to-EOF workloads).
``lines``
    As ``stream``, but the bytes are 64-byte records, each ending in
    ``b"\\n"``.

Run it as ``python -m socs_tcp.bench.peer MODE``: it prints its port on
stdout and serves until its stdin closes (so it dies with its parent) or its
lifetime ends, whichever comes first. :func:`start` does that from Python.
"""

import argparse
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time

logger = logging.getLogger("socs_tcp.bench")

MODES = ("echo", "stream", "lines")

#: Length of one line record, newline included.
RECORD_SIZE = 64

#: Seconds any single send or receive of the peer may block.
IO_TIMEOUT = 10.0

#: Seconds a peer lives at most unless told otherwise.
DEFAULT_LIFETIME = 900.0

_BLOCK = 1 << 20  # what one sendall() of a stream carries
_HEADER_MAX = 32  # a byte count and its newline fit in this


def record(index):
    """The ``index``-th 64-byte line record, newline included."""
    return b"%016d %046s\n" % (index, b"socs_tcp benchmark record")


def _pattern(mode):
    if mode == "lines":
        return b"".join(record(i) for i in range(_BLOCK // RECORD_SIZE))
    return bytes(range(256)) * (_BLOCK // 256)


# -- serving (in the peer process) ----------------------------------------


def _read_count(conn):
    """The byte count a stream client asks for: ``b"<int>\\n"``."""
    header = b""
    while not header.endswith(b"\n"):
        chunk = conn.recv(_HEADER_MAX - len(header))
        if not chunk or len(header) + len(chunk) >= _HEADER_MAX:
            raise ValueError(f"bad stream request {header + chunk!r}")
        header += chunk
    return int(header)


def _stream(conn, pattern):
    """Send the requested number of bytes of ``pattern``, then close."""
    with conn:
        conn.settimeout(IO_TIMEOUT)
        try:
            left = _read_count(conn)
            block = memoryview(pattern)
            while left:
                n = min(left, len(block))
                conn.sendall(block[:n])
                left -= n
            conn.shutdown(socket.SHUT_WR)
            # Wait for the client's close, so ours never resets the
            # connection before it has read everything.
            while conn.recv(_BLOCK):
                pass
        except (OSError, ValueError) as exc:
            logger.debug("stream connection ended: %s", exc)


def _echo_ready(conn):
    """Echo what ``conn`` holds; False once the client has gone."""
    try:
        data = conn.recv(65536)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not data:
        return False
    try:
        sent = conn.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        return False
    if sent < len(data):  # rare: the client is not reading; wait, bounded
        try:
            conn.settimeout(IO_TIMEOUT)
            conn.sendall(memoryview(data)[sent:])
            conn.setblocking(False)
        except OSError:
            return False
    return True


def _poller():
    """``(poller, read_event, seconds_to_timeout_unit)``: epoll, else poll."""
    if hasattr(select, "epoll"):
        return select.epoll(), select.EPOLLIN, 1.0
    return select.poll(), select.POLLIN, 1000.0


def serve(listener, mode, lifetime, watch_fd=None):
    """Serve ``listener`` in ``mode`` until ``watch_fd`` closes or ``lifetime``.

    Parameters
    ----------
    listener : socket.socket
        A listening socket.
    mode : {'echo', 'stream', 'lines'}
        What to do with each connection.
    lifetime : float
        Seconds to serve at most.
    watch_fd : int, optional
        Stop once this descriptor (the parent's pipe) reaches EOF: the
        parent has gone.
    """
    deadline = time.monotonic() + lifetime
    pattern = None if mode == "echo" else _pattern(mode)
    conns = {}
    poller, readable, unit = _poller()
    listener.setblocking(False)
    poller.register(listener.fileno(), readable)
    if watch_fd is not None:
        try:
            poller.register(watch_fd, readable)
        except PermissionError:  # epoll refuses regular files and /dev/null
            watch_fd = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                logger.info("peer lifetime of %s s is over", lifetime)
                return
            for fd, _ in poller.poll(left * unit):
                if fd == watch_fd:
                    if not os.read(fd, 4096):
                        return
                elif fd == listener.fileno():
                    _accept(listener, mode, pattern, poller, readable, conns)
                elif not _echo_ready(conns[fd]):
                    poller.unregister(fd)
                    conns.pop(fd).close()
    finally:
        getattr(poller, "close", lambda: None)()
        for conn in conns.values():
            conn.close()


def _accept(listener, mode, pattern, poller, readable, conns):
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode == "echo":
        conn.setblocking(False)
        conns[conn.fileno()] = conn
        poller.register(conn.fileno(), readable)
    else:
        # Daemon: a stream blocked on a stalled client ends with the process.
        threading.Thread(target=_stream, args=(conn, pattern), daemon=True).start()


def main(argv=None):
    """Entry point of ``python -m socs_tcp.bench.peer``."""
    parser = argparse.ArgumentParser(
        prog="python -m socs_tcp.bench.peer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    args = parser.parse_args(argv)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, 0))
        listener.listen(128)
        sys.stdout.write(f"{listener.getsockname()[1]}\n")
        sys.stdout.flush()
        serve(listener, args.mode, args.lifetime, sys.stdin.fileno())


# -- starting and stopping (in the client process) -------------------------


class Peer:
    """A peer process; stop it with :meth:`close` (or use ``with``).

    Parameters
    ----------
    mode : {'echo', 'stream', 'lines'}
        What the peer does.
    host : str, optional
        Loopback address to listen on. Defaults to ``"127.0.0.1"``.
    lifetime : float, optional
        Seconds after which the peer stops by itself.
    startup_timeout : float, optional
        Seconds to wait for the peer to report its port.

    Attributes
    ----------
    address : tuple
        ``(host, port)`` to connect to.
    """

    def __init__(
        self, mode, host="127.0.0.1", lifetime=DEFAULT_LIFETIME, startup_timeout=30.0
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        cmd = [sys.executable, "-m", __name__, mode, "--host", host]
        cmd += ["--lifetime", str(lifetime)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        try:
            port = self._read_port(startup_timeout)
        except BaseException:
            self.close()
            raise
        self.address = (host, port)
        logger.debug("%s peer pid %d on port %d", mode, self._proc.pid, port)

    @property
    def pid(self):
        """Process id of the peer."""
        return self._proc.pid

    def _read_port(self, timeout):
        out = self._proc.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        line = os.read(out.fileno(), 64) if ready else b""
        if not line.strip().isdigit():
            raise RuntimeError(
                f"the {self.mode} peer did not start within {timeout} s "
                f"(exit code {self._proc.poll()}, said {line!r})"
            )
        return int(line)

    def close(self, timeout=5.0):
        """Stop the peer: close its stdin, then terminate, then kill."""
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            pipe.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


if __name__ == "__main__":
    main()
