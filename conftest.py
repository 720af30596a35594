"""Runs every ``python`` code block of the README and the docs as a test.

A document's blocks run in order, in one namespace, as a reader would paste
them (Sybil's Markdown parser). A block that defines ``test_*`` functions
also runs them, with the fixtures they name taken from the block's
namespace (``fake_device``, ``tmp_path``), so a test shown in the docs is a
test that runs. Whatever a document leaves running (a ``FakeDevice``, an
interface) is stopped when the document ends.

Under pytest-xdist (``-n auto``) a document's blocks run on one worker, in
order (:func:`pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser

#: The fixtures a block's tests may ask for.
FIXTURES = ["fake_device", "tmp_path"]

_python = PythonEvaluator()


def _evaluate(example: Example) -> None:
    """Run the block, then every test function it defined or redefined."""
    before = dict(example.namespace)
    _python(example)
    for name, value in list(example.namespace.items()):
        fresh = before.get(name) is not value
        if name.startswith("test_") and inspect.isfunction(value) and fresh:
            wanted = inspect.signature(value).parameters
            value(**{p: example.namespace[p] for p in wanted})


def _stop_leftovers(namespace: dict[str, Any]) -> None:
    """Stop what a document left open, so no thread or socket outlives it."""
    from socs_tcp import TCPInterface
    from socs_tcp.testing import FakeDevice

    for value in namespace.values():
        if isinstance(value, TCPInterface):
            value.close()
    for value in namespace.values():
        # A device already stopped raised its errors then (a block that
        # expected them caught them); one left running is checked now.
        if isinstance(value, FakeDevice):
            value.stop(check=value.running)


pytest_collect_file = Sybil(
    parsers=[CodeBlockParser("python", _evaluate)],
    patterns=["README.md", "docs/*.md", "docs/**/*.md"],
    fixtures=FIXTURES,
    teardown=_stop_leftovers,
).pytest()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; xdist is optional
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n``, send each document's blocks to one worker, in order.

    A document's blocks share one namespace, so they cannot be spread over
    workers the way tests are. Everything else is scheduled one test at a
    time, as ``--dist load`` does; another ``--dist`` is left alone.
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class DocumentScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".md") else nodeid

    return DocumentScheduling(config, log)
