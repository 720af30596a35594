"""The C client column: ``c_client.c`` compiled here, driven over a pipe.

The client is a process of its own that runs each whole loop (``ask N``,
receive to EOF) in C and answers when it is done, so the pipe costs one
exchange per loop, not per call; its CPU time is its own, read with
``getrusage``. It is compiled on first use with the system's C compiler
into a private folder of the temporary directory, once per version of its
source.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources

from socs_tcp.bench import peer

SOURCE = "c_client.c"


def compiler() -> str | None:
    """The C compiler to build the client with: ``$CC``, cc or gcc; None if none."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _cache() -> str:
    """This user's private folder for the built client, in the temp directory.

    Only its owner can write it, so what runs from it is what was built.
    """
    folder = os.path.join(tempfile.gettempdir(), f"socs_tcp-bench-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or os.path.islink(folder):
        raise ImportError(f"{folder} is not private to this user; remove it")
    return folder


@functools.cache
def executable() -> str:
    """The path of the compiled client, building it if needed.

    Raises
    ------
    ImportError
        No C compiler here, or it failed (the message says which).
    """
    source = resources.files(__package__).joinpath(SOURCE).read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = os.path.join(_cache(), f"client-{digest}")
    if os.access(target, os.X_OK):
        return target
    cc = compiler()
    if cc is None:
        raise ImportError("no C compiler (apt-get install gcc, or set CC)")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, SOURCE)
        with open(src, "wb") as file:
            file.write(source)
        built = os.path.join(tmp, "client")
        done = subprocess.run(
            [cc, "-O2", "-o", built, src], capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise ImportError(f"{cc} could not build {SOURCE}: {done.stderr[-300:]}")
        os.replace(built, target)  # atomic: a concurrent build replaces alike
    return target


class Process:
    """One running C client, connected to ``host:port``.

    Parameters
    ----------
    host, port : str, int
        The peer.
    timeout : float
        Seconds each ``recv`` may block (``SO_RCVTIMEO``).
    request : bytes
        What ``ask`` sends; the reply is as long.
    """

    def __init__(self, host: str, port: int, timeout: float, request: bytes) -> None:
        self._proc = subprocess.Popen(
            [executable(), host, str(port), repr(timeout), request.decode("ascii")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            first = self._answer()
            if first != b"ready":
                raise ConnectionError(f"C client: no connection: {first!r}")
        except BaseException:
            self.close()
            raise

    def _answer(self) -> bytes:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line.startswith(b"error"):
            raise ConnectionError(f"C client: {line.decode(errors='replace')}")
        return line

    def command(self, line: str, data: bytes = b"") -> bytes:
        """Send one command line (and ``data`` after it); return its answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(line.encode("ascii") + b"\n" + data)
        self._proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """End the client (EOF on its stdin) and wait for it."""
        peer.end(self._proc)
