"""`reled train --workers N`: rollouts on a pool of SUMO processes, batched by the learner."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.training.config import load_config
from reled_sumo.training.trainer import TrainCallback, Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


class PoolSpy(TrainCallback):
    def __init__(self):
        self.pids: list[int] = []

    def on_start(self, trainer) -> None:
        self.pids = [p for p in trainer.pool.pids if p is not None]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("algo", ["reled", "mappo"])  # reled: the SED measuring update; mappo: the wrap
def test_training_on_a_worker_pool(kotka_small, tmp_path, algo):
    cfg = load_config(CI, {"scenario": str(kotka_small.path), "algo": algo, "env.max_agents": 5,
                           "env.horizon": 240, "total_decisions": 150, "episodes_per_update": 2,
                           "rollout_workers": 2, "sed_every": 2, "sed.rounds": 1, "hpo.n_epochs": 1})
    spy = PoolSpy()
    result = Trainer(cfg, run_dir=tmp_path / algo, callback=spy).run()
    assert len(spy.pids) == 2 and not any(_alive(p) for p in spy.pids)  # the pool is closed at the end
    assert result.decisions >= 150 and result.episodes == 2 * result.updates
    with open(result.run_dir / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.updates
    assert all(0.0 <= float(r["rollout/arrival_rate"]) <= 1.0 for r in rows)
    assert all(float(r["time/env_decisions"]) > 0 for r in rows)


def test_rollout_workers_must_be_a_count():
    with pytest.raises(ConfigError, match="rollout_workers"):
        load_config(CI, {"rollout_workers": -1})


def test_cli_train_with_workers_then_resume_in_process(kotka_small, tmp_path):
    """--workers is an execution detail: a pooled run resumes without the pool."""
    import typer
    from typer.testing import CliRunner

    from reled_sumo.cli.train import train_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    out = tmp_path / "run"
    common = ["train", "--config", str(CI), "--scenario", str(kotka_small.path), "--out", str(out), "--agents", "4",
              "--algo", "ippo", "--episodes-per-update", "2"]
    res = CliRunner().invoke(app, [*common, "--steps", "60", "--workers", "2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, [*common, "--steps", "200", "--workers", "0", "--resume"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    with open(out / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert int(rows[-1]["time/env_decisions"]) >= 200 and int(rows[-1]["time/episodes"]) == 2 * len(rows)
