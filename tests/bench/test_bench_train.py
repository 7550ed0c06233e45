"""`reled bench train`: training vs env-only throughput rows and the per-agent ensemble cost."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from reled_sumo.errors import ConfigError
from reled_sumo.bench import train as B
from reled_sumo.training.config import usable_cpus

CI = str(Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml")


def test_rollout_rate_pools_updates_by_decisions():
    reports = [SimpleNamespace(decisions=100, rollout_decisions_per_s=50.0),   # 100 decisions in 2 s
               SimpleNamespace(decisions=400, rollout_decisions_per_s=100.0)]  # 300 in 3 s
    assert B.rollout_rate(reports) == (400, pytest.approx(5.0))


def test_bench_options_are_checked():
    with pytest.raises(ConfigError):
        B.TrainBench("kotka", algos=("dqn",))
    with pytest.raises(ConfigError):
        B.TrainBench("kotka", steps=0)
    with pytest.raises(ConfigError, match="workers"):
        B.TrainBench("kotka", workers=(0, -1))
    with pytest.raises(ConfigError, match="overlap"):
        B.TrainBench("kotka", workers=(0, 2), overlap=(False, True))
    with pytest.raises(ConfigError, match="overlap"):
        B.TrainBench("kotka", overlap=())


def test_worker_counts_share_episodes_per_update():
    b = B.TrainBench("kotka", workers=(0, 3), config=CI)
    a, c = B.train_config(b, "ippo", 0), B.train_config(b, "ippo", 3)
    assert (a.rollout_workers, c.rollout_workers) == (0, 3) and a.episodes_per_update == c.episodes_per_update == 3


def test_bench_ensemble_rows_have_the_expected_keys():
    rows = B.bench_ensemble((3, 6), batch=4, min_run_time=0.01)
    assert [(r["agents"], r["batch"]) for r in rows] == [(3, 4), (6, 4)]
    for r in rows:
        assert set(B.ENSEMBLE_COLUMNS) <= set(r)
        assert all(r[k] > 0 for k in B.ENSEMBLE_COLUMNS)


def test_bench_train_cli_prints_rows_as_json_lines(kotka_small):
    from reled_sumo.cli.bench_learn import train_bench_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_bench_cmd)
    res = CliRunner().invoke(app, ["train", "--scenario", str(kotka_small.path), "--agents", "6", "--steps", "100",
                                   "--algo", "ippo", "--env-episodes", "1", "--config", CI,
                                   "--ensemble-agents", "4", "--workers", "0,2", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    modes = [r.get("mode") for r in rows]
    train = ["train-rollout", "train-e2e", "train-e2e+setup"]
    assert modes[:8] == ["env-fixed-policy", "env-shortest", *train, *train]
    for r in rows[:8]:
        assert set(B.THROUGHPUT_COLUMNS) <= set(r) and r["agents"] == 6 and r["decisions"] > 0
    assert rows[0]["ratio_to_env"] == 1.0 and rows[3]["algo"] == "ippo"
    assert [r["workers"] for r in rows[2:8]] == [0, 0, 0, 2, 2, 2]
    # both runs collect 2 episodes per update; the in-process one shares them with episode workers
    # (episode_workers: auto) where this machine has a spare core, the pooled one never does
    assert [r["episode_workers"] for r in rows[2:8]] == [min(1, usable_cpus() - 1)] * 3 + [0] * 3
    assert rows[8]["agents"] == 4 and "train_ratio" in rows[8]


def test_bench_train_rows_with_and_without_overlap_and_cpu_time(kotka_small):
    """End-to-end training rows beside the env-only rows of the same run, for overlap off and on,
    with the CPU seconds of the env-only episodes and of each whole training run."""
    b = B.TrainBench(str(kotka_small.path), agents=6, steps=100, algos=("ippo",), env_episodes=1, config=CI,
                     overlap=(False, True))
    rows = B.bench_train_throughput(b)
    train = ["train-rollout", "train-e2e", "train-e2e+setup"]
    assert [r["mode"] for r in rows] == ["env-fixed-policy", "env-shortest", *train, *train]
    assert [r["overlap"] for r in rows] == [0, 0, 0, 0, 0, 1, 1, 1]
    for r in rows:
        assert set(B.THROUGHPUT_COLUMNS) <= set(r) and r["decisions"] > 0
    for i in (0, 1, 4, 7):
        assert 0 < rows[i]["cpu_s"] < 10 * rows[i]["wall_s"] + 1
    assert rows[7]["decisions"] == rows[6]["decisions"] >= 100
