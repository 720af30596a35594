"""``python -m socs_tcp``: see :mod:`socs_tcp.cli`."""

import sys

from socs_tcp.cli import main

if __name__ == "__main__":
    sys.exit(main())
