"""The layers a reader can rely on: ``searchspace`` <- ``objectives`` <- ``studies`` <- ``cli.py``.

Every import of the product is walked from the source (module level and inside functions, and the
module names that lazy tables and ``sys.modules`` lookups hold as strings): no module imports a
layer above its own, no package imports another package's private module, and the import graph
has no cycle. ``cli.py`` only parses and calls the public API, so it imports public names only.

Imports under ``if TYPE_CHECKING:`` are left out: they never run. The code does not meet all of that yet (issue 25): the private cross-package imports measured on
2026-12-05 are listed below as debt, and the test fails on any new one and on any listed one that
is gone (so the list only shrinks). Upward imports and cycles are at zero and stay there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"searchspace": 0, "objectives": 1, "studies": 2, "cli": 3}


# Debt measured on 2026-12-05 (issue 25), which may only shrink: a package reaching into another's
# private module. A new one fails the test; one that is gone must be struck from the list.
KNOWN_PRIVATE_IMPORTS = (
    "cli -> objectives._warm",
    "cli -> objectives.data._describe",
    "cli -> studies._assign",
    "cli -> studies._estimate",
    "cli -> studies._names",
    "cli -> studies._options",
    "cli -> studies._presets",
    "cli -> studies._terminal",
    "cli -> studies.analysis._report",
    "cli -> studies.engine._faults",
    "cli -> studies.engine._processes",
    "cli -> studies.engine._race_transfer",
    "objectives._known -> searchspace.families._registry",
    "objectives.skip._config -> searchspace.families._skip",
    "objectives.train._checkpoint -> searchspace._atomic",
    "studies -> searchspace._lazy",
    "studies._artifacts -> objectives._names",
    "studies._artifacts -> searchspace._atomic",
    "studies._presets -> objectives._config",
    "studies._results -> objectives._names",
    "studies._spec -> objectives._check",
    "studies._spec -> objectives._names",
    "studies._spec -> objectives._seeding",
    "studies._spec -> objectives.data._shapes",
    "studies.analysis._publish -> searchspace._atomic",
    "studies.analysis._report -> searchspace._atomic",
    "studies.analysis._stats -> objectives._per_image",
    "studies.analysis._variance -> objectives._seeding",
    "studies.engine._batch -> objectives._repeats",
    "studies.engine._gpu_options -> objectives.train._precision",
    "studies.engine._gpu_share -> objectives.data._shapes",
    "studies.engine._gpu_share -> objectives.train._gpu",
    "studies.engine._launch -> objectives._warm",
    "studies.engine._launch -> objectives.train._batched",
    "studies.engine._processes -> objectives._warm",
    "studies.engine._worker -> objectives._warm",
    "studies.engine._worker -> objectives.train._batched",
    "studies.engine._worker -> objectives.train._gpu",
)



def _modules() -> dict[str, Path]:
    found = {"cli": ROOT / "cli.py"}
    for package in ("searchspace", "objectives", "studies"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The product module an imported name lives in (``studies.engine._race.RaceSettings`` -> ``studies.engine._race``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Product modules ``module`` imports, anywhere in its source. ``from pkg import sub`` counts as
    an import of ``pkg.sub`` when that is a module (its package's ``__init__`` runs anyway, as for
    every import, and is not an edge of its own); a dotted string naming a product module (a lazy
    table's target, ``sys.modules[...]``, ``importlib.import_module(...)``) counts as an import of it."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(filter(None, (_owner(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                target = _owner(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _owner(base)
                if target:
                    out.add(target)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in MODULES:  # dotted only: "studies" is also a dict key in the analysis
            out.add(node.value)
    out.discard(module)
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``, which never run (an
    annotation's import is not a dependency at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                stack.extend(child.orelse)
                continue
            stack.append(child)


GRAPH = {module: imports_of(module) for module in MODULES}


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def _is_private(module: str) -> bool:
    return any(part.startswith("_") and part != "__init__" for part in module.split("."))


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets if _layer(b) > _layer(a))
    assert upward == [], "imports up a layer:\n" + "\n".join(upward)


def test_no_package_imports_another_packages_private_module():
    crossing = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
                      if a.split(".")[0] != b.split(".")[0] and _is_private(b))
    new = sorted(set(crossing) - set(KNOWN_PRIVATE_IMPORTS))
    assert new == [], "imports into another package's private module:\n" + "\n".join(new)
    gone = sorted(set(KNOWN_PRIVATE_IMPORTS) - set(crossing))
    assert gone == [], "fixed: strike these from KNOWN_PRIVATE_IMPORTS:\n" + "\n".join(gone)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle():
    # 69 modules in 5 cycles on 2026-12-05 before issue 25's work; none since
    cycles = _cycles(GRAPH)
    detail = "\n".join(f"{len(c)} modules: {', '.join(c)}\n  " + "\n  ".join(
        f"{a} -> {b}" for a in c for b in sorted(GRAPH[a] & set(c))) for c in cycles)
    assert cycles == [], "import cycles:\n" + detail


def test_storage_imports_no_engine():
    # studies.storage is the bottom of studies (issue 25, item 3): the engine calls it, never the
    # reverse. It may use searchspace and studies._options (the ranges of options, a leaf).
    storage = [m for m in GRAPH if m == "studies.storage" or m.startswith("studies.storage.")]
    assert len(storage) > 5, storage  # the walk sees the package
    allowed = {"studies._options"}
    upward = sorted(f"{a} -> {b}" for a in storage for b in GRAPH[a]
                    if not (b.startswith(("studies.storage", "searchspace")) or b in allowed))
    assert upward == [], "studies.storage imports the engine:\n" + "\n".join(upward)


def test_the_engine_imports_no_analysis_and_nothing_below_imports_the_engine():
    # inside studies: storage <- the spec and presets (studies/_*.py) <- engine <- analysis and the
    # study readers (studies/_results.py); the package's __init__ re-exports from all of them
    engine = [m for m in GRAPH if m.startswith("studies.engine")]
    assert len(engine) > 10, engine
    upward = sorted(f"{a} -> {b}" for a in engine for b in GRAPH[a]
                    if b.startswith("studies.analysis") or b == "studies._results")
    assert upward == [], "the engine imports the analysis:\n" + "\n".join(upward)
    readers = {"studies", "studies._results"}
    below = sorted(f"{a} -> {b}" for a in GRAPH if a.startswith("studies") and a not in readers
                   and not a.startswith(("studies.engine", "studies.analysis")) for b in GRAPH[a]
                   if b.startswith("studies.engine"))
    assert below == [], "modules below the engine import it:\n" + "\n".join(below)


def test_the_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_walk_sees_imports_inside_functions_and_lazy_tables():
    # studies.engine._launch imports the race inside a function; objectives' lazy table names its modules
    assert "studies.engine._race_transfer" in GRAPH["studies.engine._launch"]
    assert "objectives._config" in GRAPH["objectives"]


def test_cli_imports_only_public_names():
    private = sorted(b for b in GRAPH["cli"] if _is_private(b))
    known = sorted(e.split(" -> ")[1] for e in KNOWN_PRIVATE_IMPORTS if e.startswith("cli -> "))
    assert private == known, "cli.py imports private modules beyond the known debt: " + ", ".join(private)


@pytest.mark.parametrize("package", ["searchspace", "objectives", "studies", "studies.analysis"])
def test_every_public_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_product_lines_fit_120_characters():
    long = [f"{path.relative_to(ROOT)}:{number}" for path in MODULES.values()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if len(line) > 120]
    assert long == [], "lines over 120 characters: " + ", ".join(long[:20])
