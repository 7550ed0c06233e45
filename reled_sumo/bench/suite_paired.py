"""The suite report's paired section: every training run against the references and the other
methods of its cell, on the shared evaluation seeds (:mod:`reled_sumo.evaluation.paired`).

Each run and each reference of a cell is evaluated on the same SUMO seeds (10000, 10001, ...), so
the per-seed difference removes the noise both share; with one training seed this is the only
comparison that resolves effects smaller than the seed-to-seed spread.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from reled_sumo.bench.suite import RESULTS, SuiteSpec
from reled_sumo.evaluation.report import markdown_table
from reled_sumo.evaluation.paired import PAIRED_HEADER, PairedComparison, compare_paired, paired_rows
from reled_sumo.metrics.results import EvalResult


def cell_results(out: Path) -> dict[tuple[str, int], dict[str, EvalResult]]:
    """``(city, agents) -> {name: EvalResult}``: references by name, runs as ``method:s<seed>``."""
    cells: dict[tuple[str, int], dict[str, EvalResult]] = {}
    for p in sorted((Path(out) / RESULTS).rglob("*.json")):
        rec = json.loads(p.read_text())
        t = rec["task"]
        if t["kind"] not in ("ref", "train"):
            continue
        ev = EvalResult.from_dict(rec["eval"])
        name = t["method"] if t["kind"] == "ref" else f"{t['method']}:s{t['seed']}"
        cells.setdefault((t["city"], int(t["agents"])), {})[name] = ev
    return cells


def cell_comparisons(results: dict[str, EvalResult], references: Sequence[str],
                     confidence: float = 0.95) -> list[PairedComparison]:
    """Each run against each reference present, then each pair of runs with the same training seed."""
    runs = sorted(n for n in results if ":" in n)
    out = [compare_paired(_named(results[r], r), _named(results[b], b), confidence=confidence)
           for r in runs for b in references if b in results]
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if a.split(":")[1] == b.split(":")[1]:
                out.append(compare_paired(_named(results[a], a), _named(results[b], b), confidence=confidence))
    return out


def _named(r: EvalResult, name: str) -> EvalResult:
    return EvalResult(name, r.scenario, r.scenario_hash, r.per_seed, r.meta)


def paired_section(spec: SuiteSpec, out: Path) -> list[str]:
    cells = cell_results(out)
    md: list[str] = []
    for c in spec.cities:
        for n in spec.agents:
            comps = cell_comparisons(cells.get((c.name, n), {}), spec.references, spec.confidence)
            if comps:
                md += [f"### {c.name}, {n} agents: paired on the evaluation seeds", "",
                       markdown_table(PAIRED_HEADER, paired_rows(comps)), ""]
    if md:
        md = ["## Paired comparisons", "",
              "Travel time counting non-arrived agents, per evaluation seed: the run minus the reference (or the "
              "second run), mean ± CI over the shared seeds; ratio likewise; jam rate: share of seeds above 1.2 x "
              "the other. Verdict: better / worse when the whole interval lies below / above 0.", ""] + md
    return md
