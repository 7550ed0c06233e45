"""TrainConfig: YAML loading, validation, CLI overrides, algorithm settings (no SUMO)."""
from __future__ import annotations

from pathlib import Path

import pytest

from reled_sumo.errors import ConfigError, UserInputError
from reled_sumo.training.algos import algo_spec
from reled_sumo.training.config import TrainConfig, config_from_dict, dump_config, load_config
from reled_sumo.training.trainer import Trainer

CONFIGS = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs"


def _yaml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["default.yaml", "ci.yaml"])
def test_bundled_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert isinstance(cfg, TrainConfig) and cfg.scenario == "kotka"


def test_unknown_top_level_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="'total_steps'"):
        load_config(_yaml(tmp_path, "total_steps: 10\n"))


def test_unknown_nested_key_is_named_with_its_path(tmp_path):
    with pytest.raises(ConfigError, match=r"hpo\.weight\.mood"):
        load_config(_yaml(tmp_path, "hpo:\n  weight:\n    mood: dtw\n"))
    with pytest.raises(ConfigError, match=r"env\.max_agent"):
        load_config(_yaml(tmp_path, "env:\n  max_agent: 3\n"))


@pytest.mark.parametrize("text, match", [
    ("algo: sac\n", "algo"), ("total_decisions: 0\n", "total_decisions"), ("hpo:\n  learning_rate: -1\n", "learning_rate"),
    ("expert:\n  kind: gpt\n", "expert.kind"), ("sed:\n  rounds: 0\n", "round"), ("- 1\n- 2\n", "mapping"),
    ("hpo: 3\n", "hpo must be a mapping"), ("env:\n  max_agents: 0\n", "max_agents"),
])
def test_invalid_values_raise_config_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_yaml(tmp_path, text))


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(_yaml(tmp_path, "a: [1\n"))


def test_cli_overrides_win_over_the_file_and_none_is_ignored(tmp_path):
    p = _yaml(tmp_path, "seed: 3\nalgo: ippo\nenv:\n  max_agents: 4\n")
    cfg = load_config(p, {"seed": 9, "env.max_agents": None, "hpo.policy": "per-agent", "hpo.pi_hidden": [8]})
    assert (cfg.seed, cfg.algo, cfg.env.max_agents, cfg.hpo.policy, cfg.hpo.pi_hidden) == (9, "ippo", 4, "per-agent", (8,))


def test_yaml_round_trip(tmp_path):
    cfg = load_config(CONFIGS / "ci.yaml", {"hpo.weight.mode": "fixed", "hpo.weight.fixed_weight": 0.3})
    dump_config(cfg, tmp_path / "snap.yaml")
    assert load_config(tmp_path / "snap.yaml") == cfg
    assert config_from_dict(cfg.to_dict()) == cfg


def test_algorithm_settings():
    base = TrainConfig(seed=5)
    reled = algo_spec(base)
    assert reled.hpo.weight.mode == "dtw" and reled.uses_demos and reled.refresh_every == 10 and reled.hpo.seed == 5
    ippo = algo_spec(TrainConfig(algo="ippo"))
    assert ippo.hpo.weight.mode == "zero" and not ippo.uses_demos and not ippo.central_critic
    mappo = algo_spec(TrainConfig(algo="mappo"))
    assert mappo.central_critic and mappo.hpo.weight.mode == "zero"
    bc = algo_spec(TrainConfig(algo="bc"))
    assert (bc.hpo.pg_coef, bc.hpo.vf_coef, bc.hpo.weight.mode, bc.hpo.weight.fixed_weight) == (0, 0, "fixed", 1.0)
    assert bc.refresh_every == 0
    no_sed = algo_spec(TrainConfig(no_sed=True))
    assert no_sed.sed.rounds == 1 and no_sed.refresh_every == 0
    fixed = load_config(None, {"hpo.weight.mode": "fixed", "hpo.weight.fixed_weight": 0.2})
    assert algo_spec(fixed).hpo.weight.fixed_weight == 0.2
    with pytest.raises(ConfigError, match="fixed expert weight"):
        algo_spec(load_config(None, {"algo": "ippo", "hpo.weight.mode": "fixed"}))


def test_resume_refuses_a_changed_config_and_a_missing_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(UserInputError, match="no checkpoint"):
        Trainer(TrainConfig(), run_dir=run, resume=True).run()
    run.mkdir()
    dump_config(TrainConfig(seed=1), run / "config.yaml")
    (run / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match="seed"):
        Trainer(TrainConfig(seed=2), run_dir=run, resume=True).run()
    with pytest.raises(UserInputError, match="already holds a run"):
        Trainer(TrainConfig(seed=1), run_dir=run).run()
