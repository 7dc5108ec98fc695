"""``import hsproto``, ``python -m hsproto --help`` and the plugin listing stay light.

The import checks run in a fresh interpreter (this one has torch loaded by conftest), so
``sys.modules`` shows exactly what each step pulled in.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hsproto

INIT = Path(hsproto.__file__)
#: Modules that ``import hsproto`` and ``--help`` must not import.
HEAVY = ("torch", "torchvision", "skorch", "optuna", "sklearn", "scipy", "pandas", "numpy")


def _imported_after(code: str) -> list[str]:
    """The modules of ``HEAVY`` loaded after running ``code`` in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    env = {**os.environ, "HSPROTO_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_is_light():
    assert _imported_after("import hsproto") == []


def test_help_is_light():
    code = """
        import contextlib, io
        from hsproto.__main__ import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["--help"])
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        assert "plugins" in out.getvalue() and "tune" in out.getvalue()
    """
    assert _imported_after(code) == []


def test_help_as_a_module_is_light():
    # ``python -m hsproto`` imports the package, then runs __main__ as a script
    code = """
        import contextlib, io, runpy, sys
        sys.argv = ["hsproto", "--help"]
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                runpy.run_module("hsproto", run_name="__main__", alter_sys=True)
            except SystemExit as exc:
                assert exc.code == 0, exc.code
    """
    assert _imported_after(code) == []


def test_prototypes_need_no_training_stack():
    # placement may use torch (the optimised strategies), never skorch, sklearn or optuna
    code = """
        import hsproto
        P = hsproto.make_prototypes("auto", 10, 5)
        assert P.shape == (10, 5)
    """
    assert set(_imported_after(code)) <= {"torch", "numpy", "scipy"}


def test_plugin_listing_needs_no_training_stack():
    # listing loads every plugin to report its status (documented), which needs torch for
    # the built-ins, but not the estimators' skorch and scikit-learn, nor optuna
    code = """
        import contextlib, io, warnings
        from hsproto.__main__ import main
        with contextlib.redirect_stdout(io.StringIO()) as out, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main(["plugins"])
        assert "hsproto.losses" in out.getvalue()
    """
    assert not {"skorch", "sklearn", "optuna"} & set(_imported_after(code))


@pytest.mark.parametrize("name", hsproto.__all__)
def test_every_public_name_resolves(name):
    value = getattr(hsproto, name)
    assert value is not None
    assert name in dir(hsproto)
    assert getattr(hsproto, name) is value            # cached in the package namespace


def test_names_match_their_defining_modules():
    from hsproto import HypersphericalClassifier, make_prototypes
    from hsproto.estimators import HypersphericalClassifier as direct
    from hsproto.prototypes import make_prototypes as direct_make

    assert HypersphericalClassifier is direct and make_prototypes is direct_make


def test_dir_lists_all_public_names():
    assert set(hsproto.__all__) <= set(dir(hsproto))
    assert dir(hsproto) == sorted(dir(hsproto))


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="module 'hsproto' has no attribute 'nope'"):
        hsproto.nope  # noqa: B018
    assert not hasattr(hsproto, "HypersphericalClassifer")
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        from hsproto import nope  # noqa: F401


def _type_checking_names() -> set[str]:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    return {alias.asname or alias.name for stmt in block.body
            if isinstance(stmt, ast.ImportFrom) for alias in stmt.names}


def test_static_imports_lazy_table_and_all_agree():
    lazy = set(hsproto._LAZY)
    assert lazy == set(hsproto.__all__) - {"__version__"}
    assert _type_checking_names() == lazy
