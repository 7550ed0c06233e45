"""Layering rules of docs/architecture.md, checked on the source: lower layers never import higher ones,
and each external system has one owner."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parents[1] / "reled_sumo"
RANK = {"errors": 0, "scenario": 1, "sim": 2, "env": 3, "demos": 4, "experts": 5, "optim": 5,
        "testing": 6, "training": 7, "bench": 8, "watch": 8, "cli": 9}
OWNERS = {"traci": {"sim"}, "libsumo": {"sim"}, "ollama": {"experts/ollama_client.py"},
          "llama_cpp": {"testing/llama_server.py"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


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
            top = name.split(".")[0]
            owners = OWNERS.get(top)
            if owners and not any(rel == o or rel.startswith(o + "/") for o in owners):
                bad.append(f"{rel} imports {top}")
    assert not bad, "\n".join(bad)
