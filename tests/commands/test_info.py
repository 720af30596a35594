"""The slow path is never silent, and ``python -m socs_tcp info`` says why.

Each test runs a fresh interpreter. Where the compiled transport must be
missing, a meta-path finder installed in that interpreter alone refuses to
import it, as an install without a compiler would; sockets are not touched.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BACKENDS

#: Makes ``socs_tcp._transport_c`` unimportable in the interpreter it runs in.
BLOCK = """
import sys


class _NoExtension:
    def find_spec(self, name, path=None, target=None):
        if name == "socs_tcp._transport_c":
            raise ImportError("no extension in this test")
        return None


sys.meta_path.insert(0, _NoExtension())
"""

DRIVER = '''"""A driver module, as a user writes one."""

import socs_tcp
import socs_tcp.interface

print(socs_tcp.BACKEND)
'''


def _python(code, *args, backend=None):
    """Run ``code`` in a fresh interpreter with default warning filters."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SOCS_TCP_BACKEND", "PYTHONWARNINGS")
    }
    if backend is not None:
        env["SOCS_TCP_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run_driver(tmp_path, block):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    code = (BLOCK if block else "import sys\n") + (
        "import runpy; runpy.run_path(sys.argv[1], run_name='__main__')"
    )
    return driver, _python(code, str(driver))


def test_fallback_warns_once_at_the_users_import(tmp_path):
    driver, done = _run_driver(tmp_path, block=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["python"]
    # Shown with no logging or warning filters configured, once, and
    # attributed to the line of the driver that imported socs_tcp.
    assert done.stderr.count("SlowPathWarning") == 1, done.stderr
    # The log record goes nowhere until the application configures logging.
    assert done.stderr.count("is using its slower") == 1, done.stderr
    assert f"{driver}:3: SlowPathWarning: socs_tcp is using its slower" in (done.stderr)
    assert "no extension in this test" in done.stderr
    assert "--no-cache-dir --force-reinstall" in done.stderr


@pytest.mark.skipif("cython" not in BACKENDS, reason="the extension is not built")
def test_no_warning_when_the_extension_loads(tmp_path):
    _, done = _run_driver(tmp_path, block=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cython"]
    assert "Warning" not in done.stderr


def test_forcing_python_does_not_warn():
    done = _python("import socs_tcp", backend="python")
    assert done.returncode == 0 and done.stderr == ""


def test_warning_is_filterable_by_message_before_import():
    code = (
        BLOCK
        + "import warnings\n"
        + "warnings.filterwarnings('error', 'socs_tcp is using its slower')\n"
        + "import socs_tcp\n"
    )
    done = _python(code)
    assert done.returncode == 1
    assert "SlowPathWarning" in done.stderr


INFO = "import sys\nfrom socs_tcp.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def test_info_says_why_it_fell_back():
    done = _python(BLOCK + INFO, "info")
    assert done.returncode == 0, done.stderr
    assert "backend    python (auto: fell back (ImportError: no extension" in (
        done.stdout
    )
    assert "extension  not importable" in done.stdout
    # The fix names where this install came from (no release is on PyPI).
    assert "pip install --no-cache-dir --force-reinstall" in done.stdout
    assert "force-reinstall socs-tcp" not in done.stdout
    assert "socs_tcp   " in done.stdout and "python     " in done.stdout


@pytest.mark.skipif("cython" not in BACKENDS, reason="the extension is not built")
def test_info_describes_the_compiled_transport():
    done = _python(INFO, "info", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["backend"] == "cython"
    assert info["reason"] == "auto: the compiled transport imported"
    ext = info["extension"]
    assert ext["path"].endswith(".so")
    for key in ("cython", "compiler", "python", "optimization"):
        assert ext[key], key
    assert isinstance(ext["sanitizers"], list)
    assert isinstance(ext["debug"], bool)
    assert ext["python"].startswith("{}.{}.".format(*sys.version_info))


def test_info_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "socs_tcp", "info"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("socs_tcp   ")
