"""The layers a reader can rely on: ``searchspace`` <- ``objectives`` <- ``studies`` <- ``cli.py``.

Every import of the product is walked from the source (module level and inside functions, and the
module names that lazy tables and ``sys.modules`` lookups hold as strings): no module imports a
layer above its own, no package imports another package's private module, and the import graph
has no cycle. A package reaches a lower one only through its gateways: the package itself (the
names in its ``__all__``, the public API), its ``interface`` module (what the layers above use
beyond the API) and ``searchspace.errors``. ``cli.py`` only parses and calls the public API, so it
imports names in ``__all__`` only, and the public API stays small (issue 25: at most 60 names).

Imports under ``if TYPE_CHECKING:`` are left out: they never run. On 2026-12-05, before issue 25's
work, 69 modules sat in 5 cycles and 38 imports reached into another package's private module
(12 of them from ``cli.py``); all are at zero and stay there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"searchspace": 0, "objectives": 1, "studies": 2, "cli": 3}


PACKAGES = ("searchspace", "objectives", "studies")
# How a package reaches the one below it (see the module docstring).
GATEWAYS = {"searchspace": ("searchspace", "searchspace.interface", "searchspace.errors"),
            "objectives": ("objectives", "objectives.interface"), "studies": ("studies",)}
MAX_PUBLIC_NAMES = 60  # issue 25: what a researcher calls, across the three packages


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
    out: set[str] = set()
    for target, name in imported_names(module):
        full = target if name is None else f"{target}.{name}"
        owner = _owner(full if full in MODULES else target)
        if owner:
            out.add(owner)
    for node in _runtime_nodes(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
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


def imported_names(module: str) -> list[tuple[str, str | None]]:
    """``(module, name)`` for each ``from module import name`` of the product in ``module``'s source
    (``(module, None)`` for ``import module``), with relative imports resolved."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None) for alias in node.names if alias.name.split(".")[0] in LAYERS)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] in LAYERS:
                out.extend((base, alias.name) for alias in node.names)
    return out


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
    assert crossing == [], "imports into another package's private module:\n" + "\n".join(crossing)


def _public_api() -> dict[str, set[str]]:
    import importlib

    return {package: set(importlib.import_module(package).__all__) for package in PACKAGES}


def test_a_package_reaches_a_lower_one_only_through_its_gateways():
    api = _public_api()
    wrong = []
    for module in MODULES:
        own = module.split(".")[0]
        if module == "cli":
            continue
        # every edge of the walk (imports, lazy tables, module names in strings)...
        wrong.extend(f"{module}: {target}" for target in GRAPH[module]
                     if target.split(".")[0] != own and target not in GATEWAYS[target.split(".")[0]])
        # ...and, by name, what is taken from a package itself: its public API only
        for target, name in imported_names(module):
            other = target.split(".")[0]
            if other != own and target == other and name is not None and name not in api[other]:
                wrong.append(f"{module}: {target}.{name}")
        wrong.extend(f"{module}: {chain}" for chain in _attribute_chains(module, own)
                     if not _through_a_gateway(chain, api))
    assert wrong == [], "imports past a package's gateways:\n" + "\n".join(sorted(wrong))


def _attribute_chains(module: str, own: str) -> list[str]:
    """``objectives.train.fit``-style uses of another package bound by ``import objectives``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    bound = {alias.asname or alias.name.split(".")[0] for node in _runtime_nodes(tree) if isinstance(node, ast.Import)
             for alias in node.names if alias.name.split(".")[0] in PACKAGES and alias.name.split(".")[0] != own}
    chains = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
            text = ast.unparse(node)
            if text.split(".")[0] in bound and not isinstance(getattr(node, "ctx", None), ast.Store):
                chains.add(text)
    return sorted(chains)


def _through_a_gateway(chain: str, api: dict[str, set[str]]) -> bool:
    parts = chain.split(".")
    if len(parts) < 2:
        return True
    package, name = parts[0], parts[1]
    return name in api[package] or f"{package}.{name}" in GATEWAYS[package]


def test_the_gateway_check_sees_a_subpackage_reached_past_the_gateway():
    assert not _through_a_gateway("objectives.train.fit", _public_api())
    assert _through_a_gateway("objectives.interface.resolve_device", _public_api())
    assert _through_a_gateway("searchspace.errors.RaceError", _public_api())


def test_every_interface_name_is_used_by_a_layer_above():
    # an interface name no package above imports is a private helper that should not be exported
    import importlib

    for package in ("searchspace", "objectives"):
        interface = importlib.import_module(f"{package}.interface")
        offered = {name for name in dir(interface) if not name.startswith("_")}
        used = {name for module in MODULES if module.split(".")[0] != package
                for target, name in imported_names(module) if target == f"{package}.interface"}
        assert offered == used, f"{package}.interface: unused {sorted(offered - used)}, missing {sorted(used - offered)}"


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
    # study readers (studies/_results.py, and studies/_summary.py: what a finished launch prints);
    # the package's __init__ re-exports from all of them
    engine = [m for m in GRAPH if m.startswith("studies.engine")]
    assert len(engine) > 10, engine
    upward = sorted(f"{a} -> {b}" for a in engine for b in GRAPH[a]
                    if b.startswith("studies.analysis") or b in ("studies._results", "studies._summary"))
    assert upward == [], "the engine imports the analysis:\n" + "\n".join(upward)
    readers = {"studies", "studies._results", "studies._summary"}
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
    api = _public_api()
    imported = imported_names("cli")
    assert len(imported) > 20, imported  # the walk sees the CLI's imports
    beyond = sorted(f"{target}.{name}" for target, name in imported if target not in api or name not in api[target])
    assert beyond == [], "cli.py imports names outside the packages' __all__: " + ", ".join(beyond)


def _declares_all(path: Path) -> bool:
    """Whether the module binds ``__all__`` anywhere (``=``, ``+=``, annotated, nested)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_only_the_packages_declare_a_public_api_and_it_is_small():
    declared = sorted(module for module, path in MODULES.items() if _declares_all(path))
    assert declared == sorted(PACKAGES), "__all__ outside the three packages: " + ", ".join(declared)
    api = _public_api()
    names = [name for package in PACKAGES for name in api[package]]
    assert len(names) <= MAX_PUBLIC_NAMES, f"{len(names)} public names"
    assert len(set(names)) == len(names), "a name exported by two packages"


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_offers_exactly_its_public_names(package):
    import importlib
    import types

    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    # what dir() lists, lazy tables included, and what is bound: the API and the package's own
    # subpackages, nothing else (not even `sys`)
    offered = {name for name in {*dir(module), *vars(module)} if not name.startswith("_")}
    extra = sorted(name for name in offered - set(module.__all__)
                   if not (isinstance(getattr(module, name), types.ModuleType)
                           and getattr(module, name).__name__ == f"{package}.{name}"))
    assert extra == [], f"{package} offers names outside __all__: {extra}"


def test_product_lines_fit_120_characters():
    long = [f"{path.relative_to(ROOT)}:{number}" for path in MODULES.values()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if len(line) > 120]
    assert long == [], "lines over 120 characters: " + ", ".join(long[:20])
