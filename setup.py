"""Declares the one compiled extension, ``socs_tcp._transport_c``.

Everything else is in pyproject.toml. The extension is optional: without a
working C compiler the package installs pure Python and this script prints a
banner saying so. ``SOCS_TCP_NO_EXTENSIONS=1`` skips it on purpose.

Two things keep a build honest. The extension is compiled from a copy of
``src/_transport_c.pyx`` at the module's own path, ``socs_tcp/``, which is
also installed: Cython's line table then names ``socs_tcp/_transport_c.pyx``,
which Python finds on ``sys.path``, so a traceback through the compiled
transport shows the ``.pyx`` line instead of ``???``. And ``build/`` outlives
a build: a compiled transport an earlier build left there is dropped before
this one compiles, so an install that cannot compile (``CC=false``,
``SOCS_TCP_NO_EXTENSIONS=1``) never ships a stale one.

The facts of the build (Cython and compiler versions, sanitizers, debug
flags) are compiled into the extension as ``BUILD_INFO``, which
``python -m socs_tcp info`` prints.
"""

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from importlib.machinery import EXTENSION_SUFFIXES

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

SOURCE = "src/_transport_c.pyx"
COMPILED_SOURCE = "socs_tcp/_transport_c.pyx"  # the copy compiled and installed
NO_EXTENSIONS = os.environ.get("SOCS_TCP_NO_EXTENSIONS", "") not in ("", "0")

BANNER = """
*********************************************************************
* socs_tcp: the compiled transport (socs_tcp._transport_c) was NOT  *
* built{reason:<61}*
* The package still works on its pure-Python transport, which is    *
* slower. To get the fast path, install a C compiler and the Python *
* headers (Debian: apt-get install gcc python3-dev) and reinstall.  *
* python -c "import socs_tcp; print(socs_tcp.BACKEND)" says which   *
* transport loaded.                                                 *
*********************************************************************
"""


def banner(reason):
    sys.stderr.write(BANNER.format(reason=" " + reason))


class OptionalBuildExt(build_ext):
    """Build the extension if possible; on failure, say so loudly, once."""

    failed = False

    def _failed(self, exc):
        if not self.failed:
            self.failed = True
            banner(f"({type(exc).__name__}; the compiler's output is above).")

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all fails here
            self._failed(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler ran and failed
            self._failed(exc)


class FreshBuildPy(build_py):
    """Copy the package into build/, without a compiled transport left there."""

    def run(self):
        super().run()
        for suffix in EXTENSION_SUFFIXES:
            stale = os.path.join(self.build_lib, "socs_tcp", "_transport_c" + suffix)
            if os.path.exists(stale):
                os.remove(stale)


def compiler_version(cc):
    try:
        done = subprocess.run(
            [*shlex.split(cc), "--version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return cc
    lines = done.stdout.splitlines()
    return lines[0] if done.returncode == 0 and lines else cc


def build_info():
    """What the extension is built with, as it will report it."""
    import Cython

    flags = [sysconfig.get_config_var("CFLAGS") or ""]
    flags += [os.environ.get(name, "") for name in ("CFLAGS", "CPPFLAGS", "LDFLAGS")]
    words = shlex.split(" ".join(flags))
    levels = [w for w in words if re.fullmatch(r"-O.?", w)]
    level = levels[-1] if levels else "-O0"
    sanitizers = {
        s for w in words if w.startswith("-fsanitize=") for s in w[11:].split(",")
    }
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return {
        "cython": Cython.__version__,
        "compiler": compiler_version(cc),
        "python": platform.python_version(),
        "optimization": level,
        "sanitizers": sorted(sanitizers),
        "debug": level in ("-O0", "-Og")
        or bool(sysconfig.get_config_var("Py_DEBUG"))
        or "-UNDEBUG" in words,
        "cflags": os.environ.get("CFLAGS", ""),
    }


def extensions():
    if NO_EXTENSIONS:
        banner("(SOCS_TCP_NO_EXTENSIONS is set).")
        return []
    from Cython.Build import cythonize

    # A C string literal holding the JSON (json's escapes are C's too).
    info = json.dumps(json.dumps(build_info(), ensure_ascii=True))
    shutil.copy2(SOURCE, COMPILED_SOURCE)  # keeps the time: no needless re-run
    extension = Extension(
        "socs_tcp._transport_c",
        [COMPILED_SOURCE],
        define_macros=[("SOCS_TCP_BUILD_INFO", info)],
    )
    return cythonize(
        [extension],
        include_path=["src"],
        compiler_directives={"language_level": "3"},
    )


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "build_py": FreshBuildPy},
)
