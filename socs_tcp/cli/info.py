"""``python -m socs_tcp info``: which transport loaded, why, and how it was built."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import platform
import sys
from typing import Any

import socs_tcp
from socs_tcp import _backend


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def facts() -> dict[str, Any]:
    """What ``info`` reports, as a JSON-ready dict.

    Returns
    -------
    dict
        ``socs_tcp`` (version), ``backend`` and ``reason`` (which transport
        loaded and why), ``python``, ``cython`` (installed now), and
        ``extension``: the compiled module's path and its build facts
        (``cython``, ``compiler``, ``sanitizers``, ``debug``, ...), or the
        error that kept it from importing.
    """
    try:
        module = importlib.import_module(_backend.MODULES["cython"])
        extension: dict[str, Any] = {"path": module.__file__}
        extension.update(json.loads(module.BUILD_INFO))
    except ImportError as exc:
        extension = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "socs_tcp": socs_tcp.__version__,
        "backend": socs_tcp.BACKEND,
        "reason": _backend.REASON,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cython": _version("Cython"),
        "extension": extension,
    }


def _lines(info: dict[str, Any]) -> list[str]:
    ext = info["extension"]
    lines = [
        f"socs_tcp   {info['socs_tcp']}",
        f"backend    {info['backend']} ({info['reason']})",
        f"python     {info['python']} ({info['python_executable']})",
        f"platform   {info['platform']}",
    ]
    if "error" in ext:
        lines.append(f"extension  not importable: {ext['error']}")
    else:
        sanitizers = ", ".join(ext.get("sanitizers") or []) or "none"
        debug = "yes" if ext.get("debug") else "no"
        lines += [
            f"extension  {ext['path']}",
            f"  built with Cython {ext.get('cython', '?')}, "
            f"for Python {ext.get('python', '?')}",
            f"  compiler   {ext.get('compiler', '?')}",
            f"  flags      optimization {ext.get('optimization', '?')}, "
            f"debug {debug}, sanitizers {sanitizers}",
        ]
    cython = info["cython"]
    lines.append(f"cython     {cython}{'' if ' ' in cython else ' installed'} here")
    if info["backend"] == "python" and "error" in ext:
        lines += [
            "",
            "The compiled transport is missing: socs_tcp runs on its slower",
            "pure-Python transport. Install a C compiler and the Python headers",
            "(Debian: apt-get install gcc python3-dev), then reinstall without",
            "pip's cache, which may hold a wheel built without them:",
            f"  {_backend.reinstall_command()}",
        ]
    return lines


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``info`` sub-parser to ``commands``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "info",
        help="which transport loaded, why, and how it was built",
        description="Print the transport socs_tcp loaded and why, the versions "
        "of socs_tcp, Python and Cython, and how the compiled extension was "
        "built (compiler, sanitizers, debug flags).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the facts; return 0."""
    info = facts()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(_lines(info)))
    return 0
