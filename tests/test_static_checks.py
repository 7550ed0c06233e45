"""The package's static checks, run by the README's test command (so CI runs them too):
ruff and mypy clean with the configs in pyproject.toml, and no function over 80 lines."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PKG = ROOT / "reled_sumo"
MAX_FUNCTION_LINES = 80


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name (n lines)`` of every function or method longer than ``limit`` lines
    (decorators and docstring included)."""
    out = []
    for f in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                n = (node.end_lineno or node.lineno) - first + 1
                if n > limit:
                    out.append(f"{f.relative_to(root.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_is_longer_than_80_lines():
    assert long_functions(PKG) == []


def test_long_functions_finds_a_long_one(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\n@staticmethod\ndef long():\n{body}\n")
    assert long_functions(tmp_path) == [f"{tmp_path.name}/m.py:6 long ({MAX_FUNCTION_LINES + 2} lines)"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(600)
def test_ruff_is_clean():
    r = _run("ruff", "check", "reled_sumo")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.timeout(900)
def test_mypy_is_clean():
    r = _run("mypy", "reled_sumo")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def uncommented_function_imports(root: Path) -> list[str]:
    """``path:line`` of every import inside a function without a comment on its first line (the
    word that says why it waits: an optional or heavy package, a name clash, ...)."""
    out = []
    for f in sorted(root.rglob("*.py")):
        lines = f.read_text().splitlines()
        seen = set()
        for node in ast.walk(ast.parse("\n".join(lines), filename=str(f))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)) and sub.lineno not in seen:
                        seen.add(sub.lineno)
                        line, above = lines[sub.lineno - 1], lines[sub.lineno - 2].strip()
                        if "#" not in line and not above.startswith("#"):
                            out.append(f"{f.relative_to(root.parent)}:{sub.lineno}")
    return out


def test_every_function_level_import_says_why_it_waits():
    assert uncommented_function_imports(PKG) == []
