"""The version of socs_tcp: the one place it is written.

pyproject.toml reads it from here (without importing the package).
"""

__version__ = "0.3.0.dev0"
