"""Sphinx configuration: MyST Markdown pages, numpydoc docstrings, furo.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
after ``pip install './socs-tcp[docs]'`` (or ``-e '.[docs]'`` in a clone).
"""

import socs_tcp

project = "socs_tcp"
author = "the socs_tcp authors"
copyright = "socs_tcp authors, BSD-2-Clause"
release = socs_tcp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # links to a section as page.md#section-title

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # autodoc lists the members once
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"socs_tcp {release}"
