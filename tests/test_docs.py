"""Docs that describe code are checked against it, so that they cannot drift."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from reled_sumo.env.observation import CAND_NAMES, N_CAND, N_OWN, OWN_NAMES

DOCS = Path(__file__).parents[1] / "docs"


def _table(text: str, header: str) -> list[list[str]]:
    """The rows (cells, stripped) of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _feature_names(rows: list[list[str]]) -> list[tuple[int, str]]:
    """``(index, name)`` of every feature a table row documents (``| 4, 5 | `a`, `b` |`` is two)."""
    out = []
    for cells in rows:
        idx = [int(x) for x in cells[0].split(",")]
        names = re.findall(r"`([^`]+)`", cells[1])
        assert len(idx) == len(names), cells
        out += list(zip(idx, names))
    return out


def test_env_md_feature_tables_are_the_observations_feature_lists():
    text = (DOCS / "env.md").read_text()
    own = _feature_names(_table(text, "| index | own feature |"))
    cand = _feature_names(_table(text, "| offset in slot `k`"))
    assert own == list(enumerate(OWN_NAMES)) and len(OWN_NAMES) == N_OWN
    assert cand == list(enumerate(CAND_NAMES)) and len(CAND_NAMES) == N_CAND
    # the prose around the tables gives the same counts and slot offsets
    assert f"{N_OWN} own features, then {N_CAND} features for" in " ".join(text.split())
    assert f"(at `{N_OWN} + {N_CAND}k`)" in text


def test_method_hpo_md_lists_every_hpo_config_field():
    from reled_sumo.optim.hpo import HPOConfig

    documented = set()
    for cells in _table((DOCS / "method_hpo.md").read_text(), "| `HPOConfig` field |"):
        documented.update(re.findall(r"`([^`]+)`", cells[0]))
    fields = {f.name for f in dataclasses.fields(HPOConfig)}
    assert sorted(fields - documented) == []
