"""Declares the one compiled extension, ``socs_tcp._transport_c``.

Everything else is in pyproject.toml. The extension is optional: without a
working C compiler the package installs pure Python and this script prints a
banner saying so. ``SOCS_TCP_NO_EXTENSIONS=1`` skips it on purpose.

The facts of the build (Cython and compiler versions, sanitizers, debug
flags) are compiled into the extension as ``BUILD_INFO``, which
``python -m socs_tcp info`` prints.
"""

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
    extension = Extension(
        "socs_tcp._transport_c",
        ["src/_transport_c.pyx"],
        define_macros=[("SOCS_TCP_BUILD_INFO", info)],
    )
    return cythonize(
        [extension],
        include_path=["src"],
        compiler_directives={"language_level": "3"},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
