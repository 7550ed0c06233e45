"""Layering rules of docs/architecture.md, checked on the source: lower layers never import higher ones,
and each external system has one owner."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parents[1] / "reled_sumo"
RANK = {"errors": 0, "data": 0.5, "scenario": 1, "sim": 2, "env": 3, "demos": 4, "metrics": 4, "experts": 5, "optim": 5,
        "testing": 6, "deploy": 6, "training": 7, "evaluation": 8, "bench": 9, "watch": 9, "cli": 10,
        "integrations": 11}
OWNERS = {"traci": {"sim"}, "libsumo": {"sim"}, "ollama": {"experts/ollama_client.py"},
          "llama_cpp": {"testing/llama_server.py"}, "ray.rllib": {"integrations/rllib.py"}}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions (``from m import x``
    also counts ``m.x``, which is a module when ``x`` is a submodule)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> the package modules it imports`` over all of reled_sumo (lazy imports included;
    a package's ``__init__`` is its own node; ``from pkg import submodule`` is an edge to the
    submodule only)."""
    files = {_module(f): f for f in PKG.rglob("*.py")}
    graph = {}
    for m, f in files.items():
        names = {n for n in _imports(f) if n in files and n != m}
        graph[m] = {n for n in names if not any(o.startswith(n + ".") and o in names and _only_submodules(f, n)
                                                for o in names)}
    return graph


def _only_submodules(path: Path, package: str) -> bool:
    """Every ``from package import x`` in ``path`` names a submodule."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == package and node.level == 0:
            if not all((PKG.parent / package.replace(".", "/") / f"{a.name}.py").is_file() for a in node.names):
                return False
    return True


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem == "errors" else "root"


def test_lower_layers_never_import_higher_ones():
    bad = []
    for f in PKG.rglob("*.py"):
        layer = _layer(f)
        if layer == "root":
            continue
        for name in _imports(f):
            parts = name.split(".")
            if parts[0] != "reled_sumo" or len(parts) < 2 or parts[1] not in RANK or parts[1] == layer:
                continue
            if RANK[parts[1]] >= RANK[layer]:
                bad.append(f"{f.relative_to(PKG)} imports {name}")
    assert not bad, "\n".join(bad)


def test_one_owner_per_external_system():
    bad = []
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        for name in _imports(f):
            for system, owners in OWNERS.items():
                if (name == system or name.startswith(system + ".")) and \
                        not any(rel == o or rel.startswith(o + "/") for o in owners):
                    bad.append(f"{rel} imports {system}")
    assert not bad, "\n".join(bad)


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    """No module imports itself through others, lazy (in-function) imports and package
    ``__init__`` re-exports included."""
    cycles = find_cycles(import_graph())
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_every_layer_is_ranked():
    layers = {_layer(f) for f in PKG.rglob("*.py")} - {"root"}
    assert layers <= set(RANK), sorted(layers - set(RANK))
