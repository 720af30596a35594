"""The implementations the benchmark compares, behind one small client API.

Each implementation connects a :class:`Client` whose methods are the inner
loops of the workloads, written with that implementation's own API, with
methods bound to locals so the loop itself costs the same for all:

* ``cython`` and ``python``: ``socs_tcp.TCPInterface`` on that transport;
* ``socs``: ``socs.tcp.TCPInterface``, the code being replaced;
* ``plain``: a bare ``socket.socket``, the floor of what Python can do. It is
  in blocking mode, bounded by the kernel's ``SO_RCVTIMEO``/``SO_SNDTIMEO``
  instead of Python's per-call timeout, which would cost a ``poll`` per call.
"""

import importlib
import select
import socket
import struct

from socs_tcp import _backend
from socs_tcp.interface import TCPInterface

#: Seconds any call of a client may block.
TIMEOUT = 10.0

#: The request of the query workloads; the echo peer sends it back.
REQUEST = b"MEAS:VOLT? CH1;socs_tcp bench01\n"

#: Buffer size of the ``recv_into`` workload.
INTO_SIZE = 65536


class Unavailable(Exception):
    """This implementation cannot run here; the message says how to fix it."""


class Client:
    """One connection to a peer, driven through one implementation's API.

    Subclasses implement each workload's inner loop.
    """

    def send(self, data):
        """Send all of ``data``."""
        raise NotImplementedError

    def queries(self, count):
        """``count`` request/reply round trips of :data:`REQUEST`."""
        raise NotImplementedError

    def safe_queries(self, count):
        """``count`` round trips that first drop any stale input.

        Without ``query()``, drivers drain the socket with a zero-timeout
        ``select`` before each command; that is what the base class does.
        """
        sock = self._socket()
        for _ in range(count):
            while select.select([sock], [], [], 0)[0]:
                if not sock.recv(65536):
                    raise ConnectionError("the peer closed the connection")
            self.queries(1)

    def _socket(self):
        """The connected ``socket.socket`` under this client."""
        raise NotImplementedError

    def stream(self):
        """Receive with ``recv(4096)`` until EOF; return the byte count."""
        raise NotImplementedError

    def stream_into(self, buffer):
        """Receive into ``buffer`` until EOF; return the byte count."""
        raise NotImplementedError

    def lines(self, count):
        """Receive ``count`` newline-terminated records; return ``count``."""
        raise NotImplementedError

    def wait_silence(self):
        """One receive on a silent connection, until the timeout ends it."""
        raise NotImplementedError

    def close(self):
        """Close the connection."""
        raise NotImplementedError


def _short_reply(reply, recv):
    """Finish a reply that came in pieces (never seen on loopback)."""
    while len(reply) < len(REQUEST):
        chunk = recv(4096)
        if not chunk:
            raise ConnectionError("the peer closed the connection mid-reply")
        reply += chunk
    if len(reply) != len(REQUEST):
        raise ConnectionError(f"unexpected reply of {len(reply)} bytes")


def _query_loop(send, recv, count):
    """``count`` request/reply round trips: the query workload's inner loop."""
    msg, size = REQUEST, len(REQUEST)
    for _ in range(count):
        send(msg)
        reply = recv(4096)
        if len(reply) != size:
            _short_reply(reply, recv)


def _stream_loop(recv, size):
    """``recv(size)`` until EOF; returns the byte count."""
    total = 0
    while True:
        chunk = recv(size)
        if not chunk:
            return total
        total += len(chunk)


def _stream_into_loop(recv_into, buffer):
    """``recv_into(buffer)`` until EOF; returns the byte count."""
    total = 0
    while True:
        n = recv_into(buffer)
        if not n:
            return total
        total += n


class DeviceClient(Client):
    """A client through a socs-style ``TCPInterface`` (``send``/``recv``)."""

    def __init__(self, device):
        if device.comm is None:
            raise ConnectionError("TCPInterface could not connect to the peer")
        self.device = device

    def send(self, data):
        self.device.send(data)

    def wait_silence(self):
        try:
            self.device.recv()
        except ConnectionError:
            pass  # the timeout: what this call is for

    def queries(self, count):
        _query_loop(self.device.send, self.device.recv, count)

    def _socket(self):
        return self.device.comm

    def stream(self):
        return _stream_loop(self.device.recv, 4096)

    def stream_into(self, buffer):
        # socs.tcp has no recv_into: its nearest call is recv(len(buffer)).
        return _stream_loop(self.device.recv, len(buffer))

    def lines(self, count):
        # What socs.tcp users write: recv(4096) and split on the newline.
        recv = self.device.recv
        buf, pos, done = b"", 0, 0
        while done < count:
            end = buf.find(b"\n", pos)
            if end < 0:
                chunk = recv(4096)
                if not chunk:
                    raise ConnectionError("the peer closed the connection early")
                buf, pos = buf[pos:] + chunk, 0
                continue
            _record = buf[pos : end + 1]  # what a driver would parse
            pos = end + 1
            done += 1
        return done

    def close(self):
        comm = self.device.comm
        if comm is not None:
            comm.close()
            self.device.comm = None


class SocsTcpClient(DeviceClient):
    """A client through ``socs_tcp.TCPInterface``, using its extra calls."""

    def safe_queries(self, count):
        query, msg, size = self.device.query, REQUEST[:-1], len(REQUEST) - 1
        for _ in range(count):
            if len(query(msg)) != size:
                raise ConnectionError("unexpected reply")

    def stream_into(self, buffer):
        return _stream_into_loop(self.device.recv_into, buffer)

    def lines(self, count):
        recv_until = self.device.recv_until
        for _ in range(count):
            recv_until(b"\n")
        return count

    def close(self):
        self.device.close()


class SocketClient(Client):
    """A client on a bare blocking ``socket.socket``."""

    def __init__(self, address, timeout):
        sock = socket.create_connection(address, timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The kernel bounds each blocking call; Python adds no poll().
            limit = struct.pack("ll", int(timeout), int(timeout % 1 * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._file = None

    def send(self, data):
        self.sock.sendall(data)

    def wait_silence(self):
        try:
            self.sock.recv(4096)
        except OSError:
            pass  # SO_RCVTIMEO expired: what this call is for

    def queries(self, count):
        _query_loop(self.sock.sendall, self.sock.recv, count)

    def _socket(self):
        return self.sock

    def stream(self):
        return _stream_loop(self.sock.recv, 4096)

    def stream_into(self, buffer):
        return _stream_into_loop(self.sock.recv_into, buffer)

    def lines(self, count):
        if self._file is None:
            self._file = self.sock.makefile("rb")
        readline = self._file.readline
        for _ in range(count):
            if not readline():
                raise ConnectionError("the peer closed the connection early")
        return count

    def close(self):
        if self._file is not None:
            self._file.close()
        self.sock.close()


class Implementation:
    """One implementation under test.

    Parameters
    ----------
    name : str
        Short key: ``'cython'``, ``'python'``, ``'socs'`` or ``'plain'``.
    label : str
        Column heading.
    """

    def __init__(self, name, label):
        self.name = name
        self.label = label

    def __repr__(self):
        return f"<Implementation {self.name}>"

    def check(self):
        """Raise :class:`Unavailable` if this implementation cannot run here."""

    def connect(self, address, timeout=TIMEOUT):
        """A :class:`Client` connected to ``address``."""
        raise NotImplementedError

    @property
    def available(self):
        """True if :meth:`check` passes."""
        try:
            self.check()
        except Unavailable:
            return False
        return True


class SocsTcp(Implementation):
    """``socs_tcp.TCPInterface`` on one transport."""

    def __init__(self, backend):
        super().__init__(backend, f"socs_tcp {backend}")
        self.backend = backend
        self._type = None

    def check(self):
        if self._type is None:
            try:
                module = _backend.load(self.backend)
            except ImportError as exc:
                raise Unavailable(str(exc)) from None
            self._type = type(
                "TCPInterface", (TCPInterface,), {"_transport_type": module.Transport}
            )

    def connect(self, address, timeout=TIMEOUT):
        self.check()
        return SocsTcpClient(self._type(address[0], address[1], timeout))


class Socs(Implementation):
    """``socs.tcp.TCPInterface``, when socs is installed."""

    def __init__(self):
        super().__init__("socs", "socs.tcp")

    def check(self):
        try:
            self._module = importlib.import_module("socs.tcp")
        except ImportError as exc:
            raise Unavailable(
                f"socs.tcp is not importable ({exc}); install it with: "
                "pip install --no-deps socs"
            ) from None

    def connect(self, address, timeout=TIMEOUT):
        self.check()
        device = self._module.TCPInterface(address[0], address[1], timeout)
        return DeviceClient(device)


class PlainSocket(Implementation):
    """A bare blocking ``socket.socket``."""

    def __init__(self):
        super().__init__("plain", "plain socket")

    def connect(self, address, timeout=TIMEOUT):
        return SocketClient(address, timeout)


def implementations():
    """Every implementation, in table order (available or not)."""
    return [SocsTcp("cython"), SocsTcp("python"), Socs(), PlainSocket()]


def get(name):
    """The implementation called ``name``."""
    for impl in implementations():
        if impl.name == name:
            return impl
    raise KeyError(f"no implementation {name!r}")
