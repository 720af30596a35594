"""Backend selection: what loads, and that a slow install is never silent."""

import os
import subprocess
import sys

import pytest

import socs_tcp
from socs_tcp import _backend
from tests.conftest import BACKENDS


def test_extension_loaded_unless_intentionally_skipped():
    # A build with a compiler must give the compiled transport; only an
    # install made with SOCS_TCP_NO_EXTENSIONS=1 may run on the fallback.
    if os.environ.get("SOCS_TCP_NO_EXTENSIONS", "") in ("", "0"):
        assert "cython" in BACKENDS, (
            "socs_tcp._transport_c is not importable: the extension was "
            "expected but the pure-Python fallback loaded"
        )
        if os.environ.get("SOCS_TCP_BACKEND", "auto") == "auto":
            assert socs_tcp.BACKEND == "cython"
    else:
        assert socs_tcp.BACKEND == "python"


def _backend_in_subprocess(value):
    env = dict(os.environ, SOCS_TCP_BACKEND=value)
    return subprocess.run(
        [sys.executable, "-c", "import socs_tcp; print(socs_tcp.BACKEND)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", BACKENDS)
def test_environment_variable_forces_backend(name):
    result = _backend_in_subprocess(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_unknown_backend_name_is_a_clear_error():
    with pytest.raises(ValueError, match="auto, cython, python"):
        _backend.select_backend("fast")


def test_forcing_missing_cython_raises_import_error(monkeypatch):
    monkeypatch.setitem(_backend.MODULES, "cython", "socs_tcp._no_such_module")
    with pytest.raises(ImportError, match="SOCS_TCP_BACKEND=python"):
        _backend.select_backend("cython")


def test_auto_falls_back_with_a_warning_and_a_log_record(monkeypatch, caplog):
    monkeypatch.setitem(_backend.MODULES, "cython", "socs_tcp._no_such_module")
    with pytest.warns(socs_tcp.SlowPathWarning, match="socs_tcp info"):
        name, module, reason = _backend.select_backend("auto")
    assert (name, module.Transport.backend) == ("python", "python")
    assert "slower pure-Python transport" in caplog.text
    assert reason.startswith("auto: fell back (ModuleNotFoundError: ")
    assert "_no_such_module" in reason


def test_the_slow_path_warning_is_shown_by_default():
    assert issubclass(socs_tcp.SlowPathWarning, UserWarning)


def test_public_names():
    assert issubclass(socs_tcp.TransportTimeout, ConnectionError)
    assert issubclass(socs_tcp.TransportTimeout, TimeoutError)
    for name in ("IncompleteRead", "FrameTooLong", "NotConnected"):
        assert issubclass(getattr(socs_tcp, name), socs_tcp.TransportError)
    assert socs_tcp.BACKEND in ("cython", "python")
    assert socs_tcp.__version__


def test_the_python_backend_never_imports_the_compiled_module():
    env = dict(os.environ, SOCS_TCP_BACKEND="python")
    script = (
        "import sys, socs_tcp; from socs_tcp import TCPInterface; "
        "print(socs_tcp.BACKEND, 'socs_tcp._transport_c' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "False"]


def test_connection_lost_is_public():
    assert issubclass(socs_tcp.ConnectionLost, socs_tcp.TransportError)
