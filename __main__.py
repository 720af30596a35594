"""Reached only by mistake: ``python -m socs_tcp`` from the folder that holds
a clone named ``socs_tcp``.

Python then takes the clone for the package (a namespace package: the clone's
top folder has no ``__init__.py``) and runs this file instead of the
package's command line. Say so in one line instead of an ``ImportError``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

sys.stderr.write(
    f"error: Python took the folder {HERE} (a clone of the socs_tcp repository) "
    "for the socs_tcp package; run it from another folder, or clone into a "
    "folder named socs-tcp\n"
)
sys.exit(2)
