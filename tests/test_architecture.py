"""Architecture checks on hsproto's internal import graph, built from source with ``ast``.

The package is parsed, never imported. Every ``import``/``from ... import`` anywhere in a
file counts (module level, inside functions and methods: lazy imports run too), except
those under ``if TYPE_CHECKING:``, which never run. Only edges between hsproto modules are
kept. Module names are dotted; a package's ``__init__.py`` is the package itself.

* ``import hsproto.x.y`` is an edge to ``hsproto.x.y``.
* ``from <base> import name`` (relative imports are resolved against the importing module;
  in an ``__init__`` the package itself is ``.``) is an edge to ``<base>.name`` when that
  is a module or subpackage, else to ``<base>``: ``from .. import registry`` ->
  ``hsproto.registry``, ``from ..prototypes import make_prototypes`` ->
  ``hsproto.prototypes``.
* No implicit edge from a submodule to its parent package (every re-exporting
  ``__init__`` would be a cycle otherwise); self-edges are dropped.

Rules: the graph has no cycles, and ``hsproto.registry`` transitively imports only the
bottom layer (``REGISTRY_MAY_IMPORT``).
"""

from __future__ import annotations

import ast
from collections import deque
from itertools import pairwise
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "hsproto"

# Layering, bottom to top: config/version/random/layout/validation helpers and the plugin
# base classes (each base class carries its own plugin contract) form the bottom layer;
# the registry sits on them; above it come the strategies, losses, backbones, the skorch
# wiring and the estimators, then tuning, testing and the CLI. So the registry may only
# reach the bottom layer, and the bottom layer must stay closed under its own imports.
# Entries that do not exist (yet) are harmless.
REGISTRY_MAY_IMPORT = frozenset({
    "hsproto._config", "hsproto._version", "hsproto._random", "hsproto._layout",
    "hsproto._validation", "hsproto.prototypes._base", "hsproto.losses._base",
    "hsproto.backbones._base",
})

SHOWN = 10  # cycles listed per group of mutually importing modules
Edges = dict[str, dict[str, str]]  # importer -> {imported: "file:line" of first import}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def build_import_graph(package_dir: Path, package_name: str) -> Edges:
    """Edges between the modules of the package in ``package_dir`` (see module docstring)."""
    files = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package_name, *path.relative_to(package_dir).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: Edges = {module: {} for module in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and _is_type_checking(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: ``.`` is our package, each further dot its parent
                    parent = package.rsplit(".", node.level - 1)[0]
                    base = f"{parent}.{base}" if base else parent
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            else:
                continue
            where = f"{path.relative_to(package_dir.parent)}:{node.lineno}"
            for target in targets:
                if target in files and target != module:
                    edges[module].setdefault(target, where)
    return edges


def strongly_connected(edges: Edges) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _bfs(edges: Edges, start: str, within) -> dict[str, str]:
    """Shortest-path tree from ``start`` through modules in ``within``: {module: parent}."""
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges[node]):
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return parent


def _chain(parent: dict[str, str], goal: str) -> list[str]:
    chain = [goal]
    while parent[chain[-1]] != chain[-1]:
        chain.append(parent[chain[-1]])
    return chain[::-1]


def _describe(edges: Edges, chain: list[str]) -> str:
    hops = [f"    {a} -> {b}  ({edges[a][b]})" for a, b in pairwise(chain)]
    return " -> ".join(chain) + "\n" + "\n".join(hops)


def shortest_cycles(edges: Edges, component: list[str]) -> list[list[str]]:
    """For each edge a -> b of the component, the shortest cycle through it; shortest first."""
    cycles = set()
    for a in component:
        for b in edges[a]:
            if b in component:
                cycle = [a, *_chain(_bfs(edges, b, set(component)), a)]
                at = cycle.index(min(cycle[:-1]))  # canonical rotation, to drop duplicates
                cycles.add((*cycle[at:-1], *cycle[:at], cycle[at]))
    return [list(c) for c in sorted(cycles, key=lambda c: (len(c), c))]


def test_no_import_cycles():
    edges = build_import_graph(PACKAGE_DIR, "hsproto")
    report = []
    for component in strongly_connected(edges):
        cycles = shortest_cycles(edges, component)
        report.append(f"{len(component)} modules on cycles: {', '.join(component)}; "
                      f"the {min(len(cycles), SHOWN)} shortest of {len(cycles)} cycles:")
        report += [_describe(edges, cycle) for cycle in cycles[:SHOWN]]
    assert not report, "import cycles (break one edge of each):\n" + "\n".join(report)


def test_registry_imports_nothing_above_it():
    edges = build_import_graph(PACKAGE_DIR, "hsproto")
    bad = sorted(set(_bfs(edges, "hsproto.registry", edges)) - REGISTRY_MAY_IMPORT
                 - {"hsproto.registry"})
    inside = _bfs(edges, "hsproto.registry", REGISTRY_MAY_IMPORT)  # within the layer
    exits = [_describe(edges, [*_chain(inside, a), b])
             for a in sorted(inside) for b in sorted(edges[a]) if b in bad]
    assert not bad, (f"hsproto.registry reaches {len(bad)} modules outside "
                     f"REGISTRY_MAY_IMPORT: {', '.join(bad)}\nit leaves its layer through:\n"
                     + "\n".join(exits))


def test_losses_read_the_layout_and_never_import_prototypes():
    edges = build_import_graph(PACKAGE_DIR, "hsproto")
    reached = set(_bfs(edges, "hsproto.losses", edges))
    for module in [m for m in edges if m.startswith("hsproto.losses.")]:
        reached |= set(_bfs(edges, module, edges))
    into = sorted(m for m in reached if m.startswith("hsproto.prototypes"))
    assert not into, f"the losses reach {into}; a loss reads what it needs from its Layout"


def test_graph_builder_sees_lazy_and_relative_imports(tmp_path):
    files = {
        "__init__.py": "",
        "a.py": "from .b import thing\n",
        "b.py": "import os\n\n\ndef f():\n    from . import a\n    return a, os\n",
        "sub/__init__.py": "",
        "sub/c.py": "from typing import TYPE_CHECKING\n\nfrom ..a import x\n\n"
                    "if TYPE_CHECKING:\n    import pkg.b\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    edges = build_import_graph(tmp_path / "pkg", "pkg")
    assert {(a, b) for a in edges for b in edges[a]} == {
        ("pkg.a", "pkg.b"), ("pkg.b", "pkg.a"), ("pkg.sub.c", "pkg.a")}
    assert edges["pkg.b"]["pkg.a"] == str(Path("pkg", "b.py")) + ":5"
    assert set(edges) == {"pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"}
    assert "pkg.b" not in edges["pkg.sub.c"]  # the TYPE_CHECKING import is skipped
    assert strongly_connected(edges) == [["pkg.a", "pkg.b"]]
    (tmp_path / "pkg" / "sub" / "c.py").write_text("import pkg.b\n")  # unguarded, absolute
    assert build_import_graph(tmp_path / "pkg", "pkg")["pkg.sub.c"] == {
        "pkg.b": str(Path("pkg", "sub", "c.py")) + ":1"}
