"""Failed polls against devices that drop connections: socs_tcp vs socs.tcp.

Usage::

    python benchmarks/failed_polls.py [--polls 20] [--period 1.0] [--idle 0.5]

Each client polls its own ``FakeDevice`` every ``period`` seconds, with
``send()`` + ``recv()`` and with ``query()`` (socs.tcp has no query: it gets
a ``select``-drain, ``send``, ``recv``), and counts the polls that raised or
returned anything but the reply. Two devices: one closes a connection idle
for ``idle`` seconds, one resets (RST) each connection shortly after a reply.
All runs go at once, in threads, so the whole takes about polls * period.
"""

from __future__ import annotations

import argparse
import io
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from socs_tcp.testing import FakeDevice


def _echo(command: bytes) -> bytes:
    return b"re:" + command


def _socs_query(iface: Any, msg: bytes) -> bytes:
    while select.select([iface.comm], [], [], 0)[0]:  # drain stale input
        if not iface.comm.recv(4096):
            break
    iface.send(msg + b"\n")
    return bytes(iface.recv()).rstrip(b"\n")


def _clients() -> dict[str, Callable[[str, int], Any]]:
    from socs_tcp._backend import interface_on

    clients: dict[str, Callable[[str, int], Any]] = {}
    for name in ("cython", "python"):
        try:
            cls = interface_on(name)
        except ImportError:
            continue
        clients[f"socs_tcp {name}"] = lambda host, port, cls=cls: cls(host, port, 2.0)
    try:
        from socs.tcp import TCPInterface as SocsInterface
    except ImportError:
        pass
    else:
        clients["socs.tcp"] = lambda host, port: SocsInterface(host, port, 2.0)
    return clients


def _run(
    make: Callable[[str, int], Any],
    device: FakeDevice,
    mode: str,
    polls: int,
    period: float,
    failures: dict[str, int],
    key: str,
) -> None:
    iface = make(*device.address)
    count = 0
    for n in range(polls):
        time.sleep(period)
        msg = b"P%d" % n
        try:
            if mode == "query":
                query = getattr(iface, "query", None)
                reply = query(msg) if query else _socs_query(iface, msg)
            else:
                iface.send(msg + b"\n")
                reply = bytes(iface.recv()).rstrip(b"\n")
        except (ConnectionError, OSError):
            count += 1
            continue
        count += reply != b"re:" + msg
    failures[key] = count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--idle", type=float, default=0.5)
    args = parser.parse_args()
    import logging

    logging.disable(logging.CRITICAL)  # the table is the output
    sys.stdout = io.StringIO()  # socs.tcp prints on every failure
    devices = {
        "closes idle": {"idle_close": args.idle},
        "resets after reply": {"drop_after": 1, "drop": "rst"},
    }
    clients = _clients()
    failures: dict[str, int] = {}
    threads, fakes = [], []
    for device_name, faults in devices.items():
        for client in clients:
            for mode in ("send+recv", "query"):
                fake = FakeDevice(_echo, **faults)
                fakes.append(fake)
                key = f"{device_name}|{client}|{mode}"
                run = (clients[client], fake, mode, args.polls, args.period)
                thread = threading.Thread(target=_run, args=(*run, failures, key))
                threads.append(thread)
                thread.start()
    for thread in threads:
        thread.join()
    for fake in fakes:
        fake.stop()
    sys.stdout = sys.__stdout__
    print(
        f"failed polls of {args.polls}, one every {args.period:g} s "
        f"(device idle close after {args.idle:g} s)"
    )
    print(f"{'device':<20} {'mode':<10} " + " ".join(f"{c:>16}" for c in clients))
    for device_name in devices:
        for mode in ("send+recv", "query"):
            cells = [failures.get(f"{device_name}|{c}|{mode}", -1) for c in clients]
            print(
                f"{device_name:<20} {mode:<10} " + " ".join(f"{n:>16}" for n in cells)
            )


if __name__ == "__main__":
    main()
