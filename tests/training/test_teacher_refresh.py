"""A demo refresh replaces the teacher only when its routes beat the current ones on the same seeds."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.env import make_env
from reled_sumo.experts.sed import demo_routes, plan_travel_time
from reled_sumo.training.config import load_config
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def _sed_rows(run: Path) -> list[dict[str, float]]:
    with open(run / "progress.csv") as fh:
        return [{k: float(v) for k, v in r.items() if k.startswith("sed/") and v != ""}
                for r in csv.DictReader(fh) if r.get("sed/candidate_travel_time")]


def test_a_refresh_is_kept_only_if_it_beats_the_teacher_and_the_saved_demos_are_the_teacher(kotka_small, tmp_path):
    cfg = load_config(CI, {"scenario": str(kotka_small.path), "env.max_agents": 6, "env.horizon": 300,
                           "total_decisions": 400, "sed_every": 1, "sed.rounds": 2, "hpo.n_epochs": 2})
    run = tmp_path / "run"
    Trainer(cfg, run_dir=run).run()
    rows = _sed_rows(run)
    assert len(rows) >= 3  # v0 plus at least two refreshes
    assert rows[0]["sed/refresh_accepted"] == 1.0 and rows[0]["sed/version"] == 0.0
    teacher, version = rows[0]["sed/teacher_travel_time"], 0.0
    for r in rows[1:]:
        better = r["sed/candidate_travel_time"] < teacher
        assert r["sed/refresh_accepted"] == float(better), (r, teacher)
        if better:  # the new teacher takes a newer version number; a rejected one leaves both as they were
            assert r["sed/version"] > version
            teacher, version = r["sed/candidate_travel_time"], r["sed/version"]
        assert r["sed/teacher_travel_time"] == teacher and r["sed/version"] == version
    # the demos on disk are the teacher the log names: re-measure them on the same SUMO seeds
    demos = DemoSet.load(run / "demos")
    assert demos.meta["version"] == version
    env = make_env(kotka_small, config=cfg.env)
    try:
        again = plan_travel_time(env, demo_routes(demos, kotka_small.graph), cfg.sed)
    finally:
        env.close()
    assert math.isclose(again, teacher, rel_tol=1e-9), (again, teacher)
