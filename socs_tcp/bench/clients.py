"""What the benchmark compares: one connection through each library's own calls.

Each ``open_*`` function connects a :class:`Client` the way a user of that
library would, and fills in the calls the library has; a call it lacks is
None, and the workloads that need it show ``-`` for it. The workloads run
the same loop over these calls for every library; only asyncio, whose calls
must be awaited, brings its own loops (:func:`open_asyncio`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import select
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from socs_tcp import _backend
from socs_tcp.bench import native

TIMEOUT = 10.0  #: seconds any call may block
REQUEST = b"MEAS:VOLT? CH1;socs_tcp bench01\n"  #: the echo peer sends it back
SIZE = len(REQUEST)
BLOCK_QUERY = b"CURV?"  #: the block peer answers any line with a 1 MiB block

Address = tuple[str, int]


#: The module each optional library needs, and what to pip install for it.
_NEEDS = {
    "socs": ("socs.tcp", "--no-deps socs"),
    "pyserial": ("serial", "pyserial"),
    "pyvisa": ("pyvisa_py", "pyvisa pyvisa-py"),
}


@dataclasses.dataclass
class Client:
    """One connection, through one library.

    Attributes
    ----------
    send : callable
        Send all of a ``bytes``.
    ask : callable
        One round trip of :data:`REQUEST` and its reply, the library's way.
    close : callable
        Close the connection.
    recv, recv_into, readline, safe_ask, wait : callable or None
        ``recv(n)`` (``b""`` at EOF); ``recv_into(buffer)`` (0 at EOF); one
        ``b"\\n"``-terminated record; a round trip that first drops stale
        input; one receive on a silent connection, which times out.
    lines, ask_block : callable or None
        ``lines()``: an iterable of the ``b"\\n"``-terminated records that
        arrive until EOF, the library's own iteration; ``ask_block()``: send
        :data:`BLOCK_QUERY` and receive the IEEE 488.2 block that answers
        it, returning its data's length.
    cpu_time : callable
        The CPU seconds the client has used (a client in a process of its
        own reports its own).
    loops : dict
        A library with an event loop, a client in another process, or a
        call that takes an argument (made from Python code, as a user's loop
        makes it) brings its own loops, by name: ``"ask"``, ``"safe_ask"``,
        ``"readline"``, ``"lines"`` and ``"ask_block"`` take a count
        (``"lines"`` returns the records received before EOF), ``"stream"``
        a receive size (it returns the bytes received before EOF).
    """

    send: Callable[[bytes], object]
    ask: Callable[[], object]
    close: Callable[[], object]
    recv: Callable[[int], bytes] | None = None
    recv_into: Callable[[bytearray], int] | None = None
    readline: Callable[[], bytes] | None = None
    safe_ask: Callable[[], object] | None = None
    wait: Callable[[], object] | None = None
    lines: Callable[[], Iterable[bytes]] | None = None
    ask_block: Callable[[], int] | None = None
    cpu_time: Callable[[], float] = time.process_time
    loops: dict[str, Callable[[int], int]] = dataclasses.field(default_factory=dict)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, name: str) -> Callable[..., Any]:
        """The call ``name``; ``NotImplementedError`` if the library has none."""
        call = getattr(self, name)
        if call is None:
            raise NotImplementedError(name)
        return call

    def times(self, name: str, n: int) -> None:
        """Call ``name`` ``n`` times, as a loop in the user's code would."""
        if name in self.loops:
            self.loops[name](n)
            return
        call = self.call(name)
        for _ in range(n):
            call()

    def count_lines(self) -> int:
        """Iterate over the records until EOF; return how many arrived."""
        if "lines" in self.loops:
            return self.loops["lines"](0)
        count = 0
        for _ in self.call("lines")():
            count += 1
        return count

    def to_eof(self, size: int) -> int:
        """Receive with ``recv(size)`` until EOF; return the byte count."""
        if "stream" in self.loops:
            return self.loops["stream"](size)
        recv, total = self.call("recv"), 0
        while chunk := recv(size):
            total += len(chunk)
        return total


def _ask(
    send: Callable[[bytes], object], recv: Callable[[int], bytes]
) -> Callable[[], None]:
    def ask() -> None:
        send(REQUEST)
        got = len(recv(4096))
        while got < SIZE:  # a reply in pieces (not seen on loopback)
            chunk = recv(4096)
            if not chunk:
                raise ConnectionError("the peer closed the connection mid-reply")
            got += len(chunk)

    return ask


def _quiet(
    call: Callable[[], object], *errors: type[BaseException]
) -> Callable[[], None]:
    """``call()``, with the timeout it is expected to end in swallowed."""

    def wait() -> None:
        try:
            call()
        except errors:
            pass

    return wait


def _drain_then(sock: socket.socket, ask: Callable[[], None]) -> Callable[[], None]:
    """What drivers write before a command: drop input with ``select(.., 0)``."""

    def safe_ask() -> None:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(65536):
                raise ConnectionError("the peer closed the connection")
        ask()

    return safe_ask


def _lines_by_find(recv: Callable[[int], bytes]) -> Callable[[], bytes]:
    """A line reader over ``recv(4096)`` and ``bytes.find``, as socs users write."""
    buf = bytearray()

    def readline() -> bytes:
        while (end := buf.find(b"\n")) < 0:
            chunk = recv(4096)
            if not chunk:
                raise ConnectionError("the peer closed the connection early")
            buf.extend(chunk)
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        return line

    return readline


def _block_reader(
    send: Callable[[bytes], object], read: Callable[[int], bytes]
) -> Callable[[], int]:
    """A definite-length block query over a buffered ``read(n)``, by hand.

    What a driver author writes over ``makefile("rb")``: the header
    ``#<digits><length>``, then ``length`` bytes and the terminator.
    """

    def ask_block() -> int:
        send(BLOCK_QUERY + b"\n")
        head = read(2)
        digits = read(int(head[1:])) if head[1:].isdigit() else b""
        if head[:1] != b"#" or not digits.isdigit():
            raise ConnectionError(f"not a definite-length block: {head + digits!r}")
        data = read(int(digits))
        if len(data) != int(digits):
            raise ConnectionError("the connection closed inside the block")
        if read(1) != b"\n":
            raise ConnectionError("the block is not followed by its terminator")
        return len(data)

    return ask_block


def _each(call: Callable[[bytes], object], arg: bytes) -> Callable[[int], int]:
    """A loop of ``call(arg)``, as a user's code writes it.

    The call is made from Python code, so CPython makes it as it makes a
    user's; a ``functools.partial`` per call would add a C-level call that
    no user's loop has.
    """

    def loop(n: int) -> int:
        for _ in range(n):
            call(arg)
        return n

    return loop


def _device(device: Any) -> Client:
    """A socs-style ``TCPInterface``: ``send`` and ``recv``."""
    if device.comm is None:
        raise ConnectionError("TCPInterface could not connect to the peer")
    ask = _ask(device.send, device.recv)
    return Client(
        send=device.send,
        ask=ask,
        close=device.comm.close,
        recv=device.recv,
        readline=_lines_by_find(device.recv),
        safe_ask=_drain_then(device.comm, ask),
        wait=_quiet(device.recv, ConnectionError),
    )


def open_socs_tcp(backend: str, address: Address, timeout: float) -> Client:
    """``socs_tcp.TCPInterface`` on the transport ``backend``."""
    device = _backend.interface_on(backend)(address[0], address[1], timeout)
    client = _device(device)
    client.close = device.close
    client.recv_into = device.recv_into
    client.readline = functools.partial(device.recv_until, b"\n")
    client.safe_ask = functools.partial(device.query, REQUEST[:-1])
    client.lines = functools.partial(device.frames, b"\n")
    client.ask_block = lambda: len(device.query_block(BLOCK_QUERY))
    client.loops["readline"] = _each(device.recv_until, b"\n")
    client.loops["safe_ask"] = _each(device.query, REQUEST[:-1])
    return client


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{exc}; pip install {package}") from None


def open_socs(address: Address, timeout: float) -> Client:
    """``socs.tcp.TCPInterface``, the code socs_tcp replaces."""
    tcp = _import(*_NEEDS["socs"])
    return _device(tcp.TCPInterface(address[0], address[1], timeout))


def open_socket(address: Address, timeout: float) -> Client:
    """A bare blocking socket: the least Python can do per call.

    The kernel's ``SO_RCVTIMEO`` bounds each call, so Python adds no ``poll``.
    """
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    limit = struct.pack("ll", int(timeout), int(timeout % 1 * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
    sock.settimeout(None)
    file = sock.makefile("rb")
    ask = _ask(sock.sendall, sock.recv)

    def close() -> None:
        file.close()
        sock.close()

    return Client(
        send=sock.sendall,
        ask=ask,
        close=close,
        recv=sock.recv,
        recv_into=sock.recv_into,
        readline=file.readline,
        safe_ask=_drain_then(sock, ask),
        wait=_quiet(functools.partial(sock.recv, 4096), OSError),
        lines=lambda: file,
        ask_block=_block_reader(sock.sendall, file.read),
    )


def open_c(address: Address, timeout: float) -> Client:
    """The C client (:mod:`socs_tcp.bench.native`): blocking ``send``, ``recv``."""
    proc = native.Process(address[0], address[1], timeout, REQUEST)

    def send(data: bytes) -> None:
        proc.command(f"send {len(data)}", data)

    def ask(n: int) -> int:
        proc.command(f"ask {n}")
        return n

    return Client(
        send=send,
        ask=lambda: proc.command("ask 1"),
        close=proc.close,
        cpu_time=lambda: float(proc.command("cpu")),
        loops={
            "ask": ask,
            "stream": lambda size: int(proc.command(f"eof {size}")),
        },
    )


def open_asyncio(address: Address, timeout: float) -> Client:
    """asyncio streams: each workload's loop is a coroutine in one event loop."""
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    reader, writer = run(asyncio.open_connection(*address))

    async def ask(n: int) -> int:
        for _ in range(n):
            writer.write(REQUEST)
            await writer.drain()
            await asyncio.wait_for(reader.readexactly(SIZE), timeout)
        return n

    async def readline(n: int) -> int:
        for _ in range(n):
            await reader.readuntil(b"\n")
        return n

    async def lines(n: int) -> int:
        count = 0
        async for _ in reader:
            count += 1
        return count

    async def ask_block(n: int) -> int:
        for _ in range(n):
            writer.write(BLOCK_QUERY + b"\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(2), timeout)
            digits = await reader.readexactly(int(head[1:]))
            await asyncio.wait_for(reader.readexactly(int(digits) + 1), timeout)
        return n

    async def stream(size: int) -> int:
        total = 0
        while chunk := await asyncio.wait_for(reader.read(size), timeout):
            total += len(chunk)
        return total

    async def recv(size: int) -> bytes:
        return await asyncio.wait_for(reader.read(size), timeout)

    def loop_of(
        body: Callable[[int], Coroutine[Any, Any, int]],
    ) -> Callable[[int], int]:
        return lambda n: run(body(n))

    def close() -> None:
        writer.close()
        with contextlib.suppress(OSError):  # closed by the peer: closed alike
            run(writer.wait_closed())
        loop.close()

    return Client(
        send=writer.write,
        ask=lambda: run(ask(1)),
        close=close,
        wait=_quiet(lambda: run(recv(1)), asyncio.TimeoutError),
        loops={
            "ask": loop_of(ask),
            "readline": loop_of(readline),
            "lines": loop_of(lines),
            "ask_block": loop_of(ask_block),
            "stream": loop_of(stream),
        },
    )


def open_pyserial(address: Address, timeout: float) -> Client:
    """pyserial's ``socket://`` URL: ``write`` and ``readline``."""
    serial = _import(*_NEEDS["pyserial"])
    port = serial.serial_for_url(f"socket://{address[0]}:{address[1]}", timeout=timeout)

    def ask() -> None:
        port.write(REQUEST)
        port.readline()

    def safe_ask() -> None:
        port.reset_input_buffer()
        ask()

    return Client(
        send=port.write,
        ask=ask,
        close=port.close,
        readline=port.readline,
        safe_ask=safe_ask,
        wait=functools.partial(port.read, 1),
    )


def open_pyvisa(address: Address, timeout: float) -> Client:
    """pyvisa-py's ``TCPIP::host::port::SOCKET``: ``write_raw``, ``read_raw``."""
    _import(*_NEEDS["pyvisa"])
    pyvisa = _import("pyvisa", "pyvisa")
    manager = pyvisa.ResourceManager("@py")
    inst = manager.open_resource(
        f"TCPIP::{address[0]}::{address[1]}::SOCKET",
        read_termination="\n",
        write_termination="",
        timeout=int(timeout * 1000),
    )

    def ask() -> None:
        inst.write_raw(REQUEST)
        inst.read_raw()

    def ask_block() -> int:
        data = inst.query_binary_values(
            (BLOCK_QUERY + b"\n").decode(), datatype="s", container=bytes
        )
        return len(data)

    def close() -> None:
        inst.close()
        manager.close()

    return Client(
        send=inst.write_raw,
        ask=ask,
        close=close,
        readline=inst.read_raw,
        wait=_quiet(inst.read_raw, pyvisa.errors.VisaIOError),
        ask_block=ask_block,
    )


#: Column label and opener of each library, in table order.
LIBRARIES: dict[str, tuple[str, Callable[[Address, float], Client]]] = {
    "cython": ("socs_tcp cython", functools.partial(open_socs_tcp, "cython")),
    "python": ("socs_tcp python", functools.partial(open_socs_tcp, "python")),
    "socs": ("socs.tcp", open_socs),
    "socket": ("plain socket", open_socket),
    "c": ("C client", open_c),
    "asyncio": ("asyncio", open_asyncio),
    "pyserial": ("pyserial", open_pyserial),
    "pyvisa": ("pyvisa-py", open_pyvisa),
}


def connect(name: str, address: Address, timeout: float = TIMEOUT) -> Client:
    """A :class:`Client` of the library ``name`` (ImportError if missing)."""
    return LIBRARIES[name][1](address, timeout)


def available(name: str) -> str | None:
    """None if the library ``name`` can run here, else why not."""
    try:
        if name in ("cython", "python"):
            _backend.load(name)
        elif name == "c":
            native.executable()
        elif name in _NEEDS:
            _import(*_NEEDS[name])
    except ImportError as exc:
        return str(exc)
    return None
