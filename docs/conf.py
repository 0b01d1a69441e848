"""Sphinx configuration for skrobust (no network access needed)."""

import importlib.util
import os
import sys
import warnings

sys.path.insert(0, os.path.abspath(".."))
import skrobust

project = "skrobust"
author = "the skrobust developers"
copyright = "the skrobust developers"
release = skrobust.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "**.ipynb_checkpoints"]
default_role = "obj"

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# no intersphinx: the docs must build without network access
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}

warnings.filterwarnings(
    "ignore",
    message="Matplotlib is currently using agg",
    category=UserWarning,
)

if importlib.util.find_spec("pydata_sphinx_theme") is not None:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {"navigation_with_keys": False}
else:
    html_theme = "alabaster"
html_title = f"skrobust {release}"
html_static_path = []


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing setters (set_fit_request, ...)
    # cite its own glossary, which this site does not have
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
