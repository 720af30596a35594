"""The only place a transport is chosen.

``SOCS_TCP_BACKEND`` (read once, at import):

* ``auto`` (or unset): the compiled transport, else the pure-Python one with
  a :class:`SlowPathWarning` and a logged warning, so a slow install is never
  silent;
* ``cython``: the compiled transport, ``ImportError`` if it is missing;
* ``python``: the pure-Python transport; the compiled module is not imported.

``REASON`` says why the loaded transport was chosen (with the import error
when ``auto`` fell back); ``python -m socs_tcp info`` prints it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

from socs_tcp._contract import Transport as TransportContract

MODULES = {"cython": "socs_tcp._transport_c", "python": "socs_tcp._transport_py"}

# The application decides where log records go; without this, Python's
# last-resort handler would write warnings to stderr. This module is the
# first the package imports, and the first that may log.
logging.getLogger("socs_tcp").addHandler(logging.NullHandler())

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

if TYPE_CHECKING:
    # Both transports satisfy the one contract (mypy checks these lines).
    from socs_tcp import _transport_c, _transport_py
    from socs_tcp.interface import TCPInterface

    _compiled: type[TransportContract] = _transport_c.Transport
    _fallback: type[TransportContract] = _transport_py.Transport


class SlowPathWarning(UserWarning):
    """The compiled transport could not be imported; the pure-Python one runs.

    A ``UserWarning`` subclass, so Python shows it by default, once, at the
    line that first imported ``socs_tcp``. Everything still works, only
    slower. ``python -m socs_tcp info`` says why the extension did not load;
    ``SOCS_TCP_BACKEND=python`` chooses the fallback on purpose (no warning),
    and ``SOCS_TCP_BACKEND=cython`` makes a missing extension an error.
    """


def load(name: str) -> ModuleType:
    """Import and return the transport module called ``name``.

    Parameters
    ----------
    name : {'cython', 'python'}
        Which transport.

    Returns
    -------
    module
        The transport module; its ``Transport`` class is the transport.

    Raises
    ------
    ImportError
        ``'cython'`` was asked for and the extension is not built.
    """
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        raise ImportError(
            f"the {name} transport of socs_tcp is not available ({exc}); "
            "reinstall with a C compiler to build it, or set "
            "SOCS_TCP_BACKEND=python"
        ) from exc


def interface_on(name: str) -> type[TCPInterface]:
    """``TCPInterface`` on the transport called ``name``, whatever
    ``SOCS_TCP_BACKEND`` chose: the one subclass that tests, the bench and
    ``benchmarks/`` use to compare the transports side by side.

    Parameters
    ----------
    name : {'cython', 'python'}
        Which transport.

    Raises
    ------
    ImportError
        ``'cython'`` was asked for and the extension is not built.
    """
    from socs_tcp.interface import TCPInterface  # it imports this module

    return type(
        "TCPInterface",
        (TCPInterface,),
        {
            "_transport_type": load(name).Transport,
            "__module__": TCPInterface.__module__,
        },
    )


def _outside_frame() -> int:
    """The ``stacklevel`` of the first caller outside socs_tcp and importlib.

    ``warnings`` does not count the import system's frames, so neither does
    this: the warning points at the user's ``import socs_tcp``.
    """
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None:
        name = frame.f_code.co_filename
        internal = "importlib" in name and "_bootstrap" in name
        if not internal and not os.path.abspath(name).startswith(_PACKAGE_DIR):
            break
        frame = frame.f_back
        if not internal:
            level += 1
    return level


def reinstall_command() -> str:
    """The pip command that reinstalls socs_tcp from where it came from.

    pip records the source of an install from a folder, a wheel file or a
    repository URL (``direct_url.json``, PEP 610); with none recorded, the
    command names the three. ``--no-cache-dir``: pip's cache may hold a
    wheel built without a compiler.
    """
    source = "CLONE-OR-WHEEL-OR-URL"
    editable = False
    try:
        from importlib import metadata

        text = metadata.distribution("socs-tcp").read_text("direct_url.json")
        record = json.loads(text) if text else {}
        url = record.get("url", "")
        vcs = record.get("vcs_info", {}).get("vcs")
        editable = bool(record.get("dir_info", {}).get("editable"))
        if url.startswith("file://") and not vcs:
            source = url[len("file://") :]
        elif url:
            source = f"{vcs}+{url}" if vcs else url
    except Exception:  # no metadata (running from a source tree), or unreadable
        pass
    if editable:
        return f"pip install --no-cache-dir --force-reinstall -e {source}"
    return f"pip install --no-cache-dir --force-reinstall {source}"


def select_backend(choice: str | None) -> tuple[str, ModuleType, str]:
    """Choose the transport for a ``SOCS_TCP_BACKEND`` value.

    Parameters
    ----------
    choice : str or None
        ``'auto'`` (or None), ``'cython'`` or ``'python'``.

    Returns
    -------
    name : str
        ``'cython'`` or ``'python'``.
    module : module
        The transport module.
    reason : str
        Why this one, for ``python -m socs_tcp info``.

    Warns
    -----
    SlowPathWarning
        ``auto`` fell back to the pure-Python transport.
    """
    choice = (choice or "auto").strip().lower()
    if choice in MODULES:
        return choice, load(choice), f"SOCS_TCP_BACKEND={choice}"
    if choice != "auto":
        raise ValueError(
            f"SOCS_TCP_BACKEND={choice!r} is not one of auto, cython, python"
        )
    try:
        return "cython", load("cython"), "auto: the compiled transport imported"
    except ImportError as exc:
        error = exc.__cause__ or exc
        why = f"{type(error).__name__}: {error}"
        message = (
            f"socs_tcp is using its slower pure-Python transport: the compiled "
            f"one did not import ({why}). Run 'python -m socs_tcp info'; after "
            f"installing a C compiler, reinstall with '{reinstall_command()}'"
        )
        logging.getLogger("socs_tcp").warning("%s", message)
        warnings.warn(message, SlowPathWarning, stacklevel=_outside_frame())
        return "python", load("python"), f"auto: fell back ({why})"


BACKEND, _module, REASON = select_backend(os.environ.get("SOCS_TCP_BACKEND"))
Transport: type[TransportContract] = _module.Transport
