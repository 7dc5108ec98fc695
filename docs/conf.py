"""Sphinx configuration of hsproto's documentation site (``make docs``).

Built with warnings as errors: ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
No network at build time: no intersphinx inventories, notebooks shown with the outputs
they were stored with (myst-nb, ``nb_execution_mode = "off"``).
"""

from __future__ import annotations

import importlib
import inspect
import logging as _pylogging
import re
import sys
from pathlib import Path

from sphinx.errors import PycodeError
from sphinx.ext import autosummary
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import hsproto  # noqa: E402

project = "hsproto"
author = "hsproto developers"
copyright = "hsproto developers"
release = hsproto.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",          # Markdown pages (myst-parser) and notebooks
]

templates_path = ["_templates"]
# notebooks/ (git-ignored) is filled by _copy_notebooks below, generated/ by autosummary.
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
root_doc = "index"

# -- API reference ------------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"                # numpydoc's Parameters sections give the types
autodoc_member_order = "groupwise"
toc_object_entries_show_parents = "hide"  # "fit()" in the page's contents, not "Class.fit()"
numpydoc_show_class_members = False       # the class template lists the members instead
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_validation_checks: set[str] = set()

# -- Markdown and notebooks ---------------------------------------------------------------
myst_heading_anchors = 3
nb_execution_mode = "off"                 # show the outputs stored in the notebooks
nb_merge_streams = True

# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "hsproto"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "api": []}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False

# The pages of docs/ are plain Markdown read on GitHub too (tests/test_docs.py runs their
# python blocks); losses.md goes from "#" to "###" on purpose.
suppress_warnings = ["myst.header"]

logger = logging.getLogger(__name__)


# -- notebooks: ../notebooks/*.ipynb -> docs/notebooks/ (git-ignored) ------------------------
def _copy_notebooks() -> list[str]:
    """Copy the repository's notebooks into docs/notebooks/ and write its index page.

    Returns the notebook names (without suffix), sorted. Copies are refreshed only when the
    source changed, so incremental builds stay incremental; stale copies are removed.
    """
    src_dir, dst_dir = ROOT / "notebooks", DOCS / "notebooks"
    dst_dir.mkdir(exist_ok=True)
    sources = sorted(src_dir.glob("*.ipynb")) if src_dir.is_dir() else []
    names = [path.stem for path in sources]
    for stale in dst_dir.glob("*.ipynb"):
        if stale.stem not in names:
            stale.unlink()
    for path in sources:
        # a link from notebooks/ to a page of docs/ ("../docs/tuning.md") now starts in
        # docs/notebooks/; links to other repository paths are unlinked by source-read below
        text = path.read_text(encoding="utf-8").replace("](../docs/", "](../")
        target = dst_dir / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    # An explicit list, not a glob: a glob that matches nothing is a warning (an error here).
    lines = ["# Notebooks", "",
             "Worked examples, shown with the outputs stored in `notebooks/` (they are run by",
             "their own test, not by the documentation build).", ""]
    if names:
        lines += ["```{toctree}", ":maxdepth: 1", "", *names, "```", ""]
    else:
        lines += ["No notebooks yet.", ""]
    index = dst_dir / "index.md"
    text = "\n".join(lines)
    if not index.exists() or index.read_text() != text:
        index.write_text(text)
    return names


_copy_notebooks()


# -- members: a class page documents what hsproto defines, not torch's or scikit-learn's ---
def _defining_module(obj) -> str | None:
    for attr in ("fget", "__func__"):
        obj = getattr(obj, attr, obj) or obj
    obj = inspect.unwrap(obj) if callable(obj) else obj
    module = getattr(obj, "__module__", None)
    if module is None and hasattr(obj, "__objclass__"):    # tuple.count, a C method
        module = getattr(obj.__objclass__, "__module__", None)
    return module if isinstance(module, str) else None


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Skip class members inherited from torch, skorch or scikit-learn.

    Their docstrings refer to labels of those projects' own sites (``:ref:`` targets that
    do not exist here); hsproto's own methods, including those of private base classes,
    stay.
    """
    if what != "class":
        return None
    module = _defining_module(obj)
    if module is not None and not module.startswith("hsproto"):
        return True
    return None


# -- docstrings: reST pitfalls in hsproto's docstrings, fixed for the site only ----------------
_LITERAL = re.compile(r"(``.+?``|`[^`]*`)")
# ``n_dims_`` outside backticks is a reST hyperlink reference ("Unknown target name"):
# a fitted attribute's name in a type such as "ndarray of shape (n_classes, n_dims_)".
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\`])([A-Za-z]\w*?[A-Za-z0-9])_(?=[\s,.;:)\]]|$)")


def _escape_references(app, what, name, obj, options, lines):
    """Escape ``word_`` (a fitted attribute named outside backticks) as ``word\\_``.

    Leaves inline literals, roles, doctest and literal blocks, and a numpydoc entry's own
    name (``n_dims_ : int``) alone.
    """
    literal_indent = None
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        if stripped.startswith(">>>"):
            in_doctest = True
        if in_doctest:
            in_doctest = bool(stripped)
            continue
        if (stripped.endswith("::") and not stripped.startswith("..")) or re.match(
                r"\.\. (code-block|code|sourcecode|math|doctest)::", stripped):
            literal_indent = indent
        head, sep, _ = line.partition(" : ")
        start = len(head) + len(sep) if sep and re.fullmatch(r"\s*[\w*, ]+", head) else 0
        parts = _LITERAL.split(line[start:])
        for j in range(0, len(parts), 2):      # the even parts are outside backticks
            parts[j] = _TRAILING_UNDERSCORE.sub(r"\1\\_", parts[j])
        lines[i] = line[:start] + "".join(parts)


def _data_docstring(app, what, name, obj, options, lines):
    """A constant's ``#:`` comment instead of its type's docstring (``str``'s, ``tuple``'s).

    autodoc reads ``#:`` comments only in the module a name is documented under;
    ``hsproto.tuning.FOLD_STEP`` is defined (with its comment) in ``hsproto.tuning._pruning``.
    """
    if what != "data" or not lines or type(obj).__doc__ is None:
        return
    if [line.strip() for line in lines if line.strip()] != [
            line.strip() for line in inspect.cleandoc(type(obj).__doc__).splitlines()
            if line.strip()]:
        return
    short = name.rsplit(".", 1)[-1]
    comment: list[str] = []
    for module_name, module in sorted(sys.modules.items()):
        if (module_name.startswith(name.split(".")[0] + ".")
                and getattr(module, short, None) is obj):
            try:
                analyzer = ModuleAnalyzer.for_module(module_name)
                comment = list(analyzer.find_attr_docs().get(("", short), []))
            except PycodeError:
                continue
            if comment:
                break
    lines[:] = comment


# autosummary's first-sentence cut can end inside an inline literal
# ("Standard basis vectors ``e_1 .. e_K`` ..." -> "Standard basis vectors ``e_1 ."):
# Sphinx checks the whole paragraph instead of the cut sentence. Extend such a cut to the
# first sentence boundary outside the literal.
_autosummary_extract_summary = autosummary.extract_summary


def _extract_summary(doc, *args, **kwargs):
    summary = _autosummary_extract_summary(doc, *args, **kwargs)
    if summary.count("``") % 2 == 0:
        return summary
    paragraph = []
    for line in doc:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    sentences = autosummary.periods_re.split(" ".join(paragraph))
    for i in range(1, len(sentences) + 1):
        candidate = ". ".join(sentences[:i]).rstrip(".") + "."
        if candidate.count("``") % 2 == 0:
            return candidate
    return " ".join(paragraph)


autosummary.extract_summary = _extract_summary


class _SkipCanonicalDuplicates(_pylogging.Filter):
    """Drop the duplicate-description warning of a class's private canonical name.

    A class exported twice (``hsproto.PrototypeStrategy`` and
    ``hsproto.prototypes.PrototypeStrategy``) gets a page under each public name; autodoc
    gives both the alias of its defining module (``hsproto.prototypes._base...``), and the
    Python domain warns that the alias is described twice. Any other duplicate still warns.
    """

    def filter(self, record):
        message = record.getMessage()
        return not re.match(r"duplicate object description of hsproto\.(\w+\.)*_\w+\.",
                            message)


_pylogging.getLogger("sphinx.sphinx.domains.python").addFilter(_SkipCanonicalDuplicates())


# -- Markdown pages and notebooks: links to repository paths outside docs/ -----------------
_RELATIVE_LINK = re.compile(r"\[([^\]]+)\]\((\.\./[^)\s#]*)(#[^)\s]*)?\)")


def _unlink_outside_paths(app, docname, source):
    """Show ``[text](../path)`` to a path that is not in docs/ as its text.

    Such a link (``plugins/hsproto-contrib``, a folder) works on GitHub but is no page of
    the site; links between the site's pages stay.
    """
    page = Path(app.env.doc2path(docname))

    def replace(match):
        target = (page.parent / match.group(2)).resolve()
        return match.group(0) if target.is_relative_to(DOCS) and target.exists() else (
            match.group(1))

    source[0] = _RELATIVE_LINK.sub(replace, source[0])


# -- completeness: every name of the public __all__ lists is in api.rst --------------------
#: Modules whose ``__all__`` the API page documents, each under its own full name.
API_MODULES = ("hsproto", "hsproto.metrics", "hsproto.plotting", "hsproto.datasets",
               "hsproto.data", "hsproto.losses", "hsproto.backbones", "hsproto.prototypes",
               "hsproto.tuning", "hsproto.testing", "hsproto.registry", "hsproto.assignment",
               "hsproto.mixing")


def _check_api_page(app):
    """Warn (an error under ``-W``) about a public name that api.rst does not list."""
    text = (DOCS / "api.rst").read_text()
    listed: set[str] = set()
    current = None
    for line in text.splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            current = match.group(1)
        elif current and (match := re.match(r"   ~?([A-Za-z_][\w.]*)\s*$", line)):
            listed.add(f"{current}.{match.group(1)}")
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if f"{module_name}.{name}" not in listed:
                logger.warning("api.rst does not list %s.%s (in its __all__)", module_name,
                               name, location="api")


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("autodoc-process-docstring", _escape_references, priority=100)
    app.connect("autodoc-process-docstring", _data_docstring, priority=90)
    app.connect("source-read", _unlink_outside_paths)
    app.connect("builder-inited", _check_api_page)
