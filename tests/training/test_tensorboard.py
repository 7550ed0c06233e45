"""Training writes TensorBoard event files next to progress.csv; tensorboard reads them back."""
from __future__ import annotations

import csv
from pathlib import Path

from reled_sumo.training.config import load_config
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"

WANTED = ("train/loss", "train/expert_nll", "rollout/mean_travel_time", "rollout/arrival_rate", "expert/w_mean",
          "expert/dtw_mean", "expert/sed_bound", "time/decisions_per_s")


def test_training_writes_tensorboard_scalars(sample_scenario, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config(CI, {"scenario": str(sample_scenario.path), "env.max_agents": 6, "env.horizon": 240,
                           "total_decisions": 200})
    run = Trainer(cfg, run_dir=tmp_path / "run").run().run_dir
    events = sorted(run.glob("**/events.out.tfevents.*"))
    assert events, f"no event file in {sorted(p.name for p in run.iterdir())}"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert set(WANTED) <= tags, sorted(set(WANTED) - tags)
    with open(run / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "the CSV is still written"
    tt = acc.Scalars("rollout/mean_travel_time")
    assert len(tt) == len(rows)
    assert abs(tt[-1].value - float(rows[-1]["rollout/mean_travel_time"])) < 1e-3
    assert [e.step for e in tt] == [int(r["time/env_decisions"]) for r in rows]
