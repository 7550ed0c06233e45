"""Issue 12: config values are checked for type (bool is not int), whole numbers and finiteness before
anything runs, and reported as one line naming the dotted key."""
from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reled_sumo.cli.train import train_cmd
from reled_sumo.errors import ConfigError
from reled_sumo.training.config import load_config

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample_scenario")
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    return app


BAD = [
    ("hpo:\n  n_epochs: 2.5\n", "hpo.n_epochs must be a whole number"),
    ("hpo:\n  batch_size: 64.5\n", "hpo.batch_size must be a whole number"),
    ("hpo:\n  learning_rate: .inf\n", "hpo.learning_rate must be finite"),
    ("hpo:\n  learning_rate: .nan\n", "hpo.learning_rate must be finite"),
    ("hpo:\n  gamma: true\n", "hpo.gamma must be a number"),
    ("total_decisions: true\n", "total_decisions must be a whole number"),
    ("seed: false\n", "seed must be a whole number"),
    ("episodes_per_update: 1.0\n", "episodes_per_update must be a whole number"),
    ("no_sed: 1\n", "no_sed must be true or false"),
    ("env:\n  max_agents: true\n", "env.max_agents must be a whole number"),
    ("env:\n  reward_scale: .inf\n", "env.reward_scale must be finite"),
    ("sed:\n  rounds: 2.5\n", "sed.rounds must be a whole number"),
    ("expert:\n  timeout_s: .inf\n", "expert.timeout_s must be finite"),
    ("expert:\n  retries: 1.5\n", "expert.retries must be a whole number"),
    ("hpo:\n  pi_hidden: [32, 2.5]\n", "hpo.pi_hidden items must be a whole number"),
    ("algo: 3\n", "algo must be one of"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_types_and_non_finite_values_are_refused(tmp_path, text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(cfg)
    out = tmp_path / "run"
    res = runner.invoke(_app(), ["train", "--config", str(cfg), "--scenario", SAMPLE, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert message in res.output.replace("\n", " ") and "Traceback" not in res.output
    assert not out.exists()


def test_cli_fixed_weight_nan_is_refused(tmp_path):
    res = runner.invoke(_app(), ["train", "--scenario", SAMPLE, "--out", str(tmp_path / "r"), "--fixed-weight",
                                 "nan", "--steps", "40"])
    assert res.exit_code == 2 and "fixed_weight must be finite" in res.output, res.output


def test_valid_numbers_still_pass():
    cfg = load_config(None, {"hpo.learning_rate": 1, "hpo.gamma": 0.9, "total_decisions": 10})
    assert cfg.hpo.learning_rate == 1 and cfg.total_decisions == 10
