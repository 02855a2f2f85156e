"""Sphinx configuration for regwire's documentation (built with warnings as errors)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "examples"))  # the httpx driver, imported by its page

project = "regwire"
author = "the regwire developers"
copyright = "2026, the regwire developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' "Raises:" sections
    "sphinx.ext.doctest",  # every example runs (sphinx-build -b doctest)
    "regwire_command",  # the command's reference, from its argument parser
    "regwire_run",  # commands run at build time against the demo registry, output shown
    "myst_parser",  # the guide is Markdown, as the README it grew out of
    "sphinx.ext.graphviz",  # the concepts page's pictures, from docs/diagrams/*.dot
]
myst_heading_anchors = 3
# The pictures are drawn at build time by the local ``dot`` (Debian's graphviz, installed by
# scripts/test): nothing is fetched from the network, and a missing ``dot`` is a warning, so an
# error under -W, rather than a page without its pictures. SVG stays sharp at any zoom and
# keeps its labels as text (searchable, and checked by tests/test_docs_diagrams.py).
graphviz_output_format = "svg"
graphviz_dot = "dot"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
default_role = "py:obj"
suppress_warnings = ["ref.python"]  # short names in docstrings that resolve to several objects
# furo: its content column holds an 88-column code line at 1280 px without scrolling (alabaster's
# narrow column cut them off), it follows the system's dark mode, and its search works offline.
html_theme = "furo"
html_title = "regwire"
html_favicon = "_static/favicon.svg"  # browsers ask for one; without it, a 404 on every page
html_static_path = ["_static"]
html_css_files = ["regwire.css"]
exclude_patterns = ["_build"]
# Every page's examples run against the demo registry on loopback (`regwire demo`'s model:
# an OCI image, a Docker image, a multi-arch index, 120 tags, Bearer auth through a realm),
# ``registry``, and an empty one that takes writes, ``mirror``.
doctest_global_setup = """
import json, tempfile, pathlib
from regwire.testing.demo import demo_registry
from regwire.testing.server import serve_model
server, model = serve_model(demo_registry)
registry = server.authority
from regwire.testing import ModelRegistry
mirror_server, mirror_model = serve_model(lambda host: ModelRegistry(host, scheme="http"))
mirror = mirror_server.authority
workdir = pathlib.Path(tempfile.mkdtemp())
"""
doctest_global_cleanup = """
server.close()
mirror_server.close()
"""
