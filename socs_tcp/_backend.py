"""The only place a transport is chosen.

``SOCS_TCP_BACKEND`` (read once, at import):

* ``auto`` (or unset): the compiled transport, else the pure-Python one with
  a logged warning, so a slow install is never silent;
* ``cython``: the compiled transport, ``ImportError`` if it is missing;
* ``python``: the pure-Python transport; the compiled module is not imported.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import TYPE_CHECKING

from socs_tcp._contract import Transport as TransportContract

MODULES = {"cython": "socs_tcp._transport_c", "python": "socs_tcp._transport_py"}

if TYPE_CHECKING:
    # Both transports satisfy the one contract (mypy checks these lines).
    from socs_tcp import _transport_c, _transport_py

    _compiled: type[TransportContract] = _transport_c.Transport
    _fallback: type[TransportContract] = _transport_py.Transport


def load(name: str) -> ModuleType:
    """Import and return the transport module called ``name``.

    Parameters
    ----------
    name : {'cython', 'python'}
        Which transport.

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


def select_backend(choice: str | None) -> tuple[str, ModuleType]:
    """Return ``(name, module)`` for a ``SOCS_TCP_BACKEND`` value."""
    choice = (choice or "auto").strip().lower()
    if choice in MODULES:
        return choice, load(choice)
    if choice != "auto":
        raise ValueError(
            f"SOCS_TCP_BACKEND={choice!r} is not one of auto, cython, python"
        )
    try:
        return "cython", load("cython")
    except ImportError as exc:
        logging.getLogger("socs_tcp").warning(
            "%s; using the slower pure-Python transport", exc
        )
        return "python", load("python")


BACKEND, _module = select_backend(os.environ.get("SOCS_TCP_BACKEND"))
Transport: type[TransportContract] = _module.Transport
