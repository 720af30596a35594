"""What machine and software a benchmark ran on, for its report."""

import datetime
import importlib.metadata
import os
import platform
import sys


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment():
    """A JSON-ready description of this machine and the software under test.

    Returns
    -------
    dict
        CPU, core counts, load, OS, Python, and the versions and default
        backend of socs_tcp and socs.
    """
    import socs_tcp

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "load_average": load,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "socs_tcp": socs_tcp.__version__,
        "socs_tcp_backend": socs_tcp.BACKEND,
        "socs": _version("socs"),
        "cython": _version("Cython"),
    }


def summary(env):
    """One line naming the machine and the software, for a table's title."""
    socs = f"socs {env['socs']}" if env.get("socs") else "socs not installed"
    return (
        f"socs_tcp {env['socs_tcp']} (default backend {env['socs_tcp_backend']}), "
        f"{socs}, {env['python']}, {env['cpu']} x {env['cpus_usable']}"
    )
