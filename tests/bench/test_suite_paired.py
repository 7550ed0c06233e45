"""The suite report's paired section: runs against references and against each other, per cell."""
from __future__ import annotations

import json
from dataclasses import replace

from reled_sumo.bench.suite import RESULTS, CitySpec, load_suite
from reled_sumo.bench.suite_paired import cell_comparisons, cell_results, paired_section
from reled_sumo.metrics.results import EvalResult, SeedMetrics


def _ev(method: str, values) -> dict:
    seeds = tuple(SeedMetrics(seed=10_000 + i, n_agents=1, mean_travel_time=v, p95_travel_time=v, arrival_rate=1.0,
                              mean_waiting_time=0.0, teleports=0, mean_return=-1.0, unfinished=0, not_departed=0,
                              censored_travel_time=v, wall_seconds=0.1) for i, v in enumerate(values))
    return EvalResult(method, "kotka", "h", seeds).to_dict()


def _write(out, kind, method, values, seed=None):
    key = f"{kind}/kotka/n50/{method}" + (f"/s{seed}" if seed is not None else "")
    p = out / RESULTS / f"{key}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    task = {"kind": kind, "city": "kotka", "agents": 50, "method": method, "seed": seed}
    p.write_text(json.dumps({"task": task, "eval": _ev(method, values)}))


def test_runs_are_paired_with_references_and_with_each_other(tmp_path):
    _write(tmp_path, "ref", "live", [200, 250, 180, 220])
    _write(tmp_path, "ref", "shortest", [300, 320, 290, 310])
    _write(tmp_path, "train", "reled", [195, 244, 176, 214], seed=0)
    _write(tmp_path, "train", "ippo", [201, 251, 181, 221], seed=0)
    _write(tmp_path, "train", "ippo", [190, 240, 170, 210], seed=1)  # no reled run with seed 1
    cells = cell_results(tmp_path)
    assert sorted(cells[("kotka", 50)]) == ["ippo:s0", "ippo:s1", "live", "reled:s0", "shortest"]
    comps = cell_comparisons(cells[("kotka", 50)], ["shortest", "live", "routing"])
    pairs = [(c.method, c.baseline, c.verdict) for c in comps]
    assert ("reled:s0", "live", "better") in pairs and ("ippo:s0", "live", "worse") in pairs
    assert ("ippo:s0", "reled:s0", "worse") in pairs  # the same training seed only
    assert not any(c.method == "ippo:s1" and c.baseline == "reled:s0" for c in comps)
    assert not any(c.baseline == "routing" for c in comps)  # not evaluated: left out
    spec = replace(load_suite("ci"), cities=(CitySpec("kotka", "kotka"),), agents=(50,),
                   references=("live", "shortest"))
    md = "\n".join(paired_section(spec, tmp_path))
    assert "### kotka, 50 agents: paired on the evaluation seeds" in md
    assert "| reled:s0 | live | 4 | -5.2 ±" in md
    assert paired_section(replace(spec, agents=(100,)), tmp_path) == []  # no results in that cell
