"""Declares the one compiled extension, ``socs_tcp._transport_c``.

Everything else is in pyproject.toml. The extension is optional: without a
working C compiler the package installs pure Python and this script prints a
banner saying so. ``SOCS_TCP_NO_EXTENSIONS=1`` skips it on purpose.
"""

import os
import sys

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


def extensions():
    if NO_EXTENSIONS:
        banner("(SOCS_TCP_NO_EXTENSIONS is set).")
        return []
    from Cython.Build import cythonize

    return cythonize(
        [Extension("socs_tcp._transport_c", ["src/_transport_c.pyx"])],
        include_path=["src"],
        compiler_directives={"language_level": "3"},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
