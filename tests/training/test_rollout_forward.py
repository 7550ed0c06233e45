"""rollout_forward: the rollouts' policy forward in numpy (default) or torch, in a real run."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.optim.policy import MultiAgentPolicy
from reled_sumo.training.config import TrainConfig, load_config
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "progress.csv") as fh:
        return list(csv.DictReader(fh))


def test_numpy_and_torch_rollouts_play_the_same_episodes(kotka_small, tmp_path, monkeypatch):
    """Both forwards draw the same actions from the same random numbers: the first update's episodes
    (decisions, returns, travel times) are the same, and only the numpy run called the numpy copy."""
    calls = {"numpy": 0, "torch": 0}
    real_torch_act = MultiAgentPolicy.torch_act

    def counting(self, *a, **k):
        calls[current] += 1
        return real_torch_act(self, *a, **k)

    monkeypatch.setattr(MultiAgentPolicy, "torch_act", counting)
    rows = {}
    for current in ("numpy", "torch"):
        cfg = load_config(CI, {"scenario": str(kotka_small.path), "algo": "ippo", "env.max_agents": 8,
                               "env.horizon": 300, "total_updates": 1, "episodes_per_update": 2,
                               "episode_workers": 0, "rollout_forward": current})
        res = Trainer(cfg, run_dir=tmp_path / current).run()
        rows[current] = (res.decisions, _rows(res.run_dir)[0])
    assert calls["numpy"] == 0 and calls["torch"] > 50
    (dn, rn), (dt, rt) = rows["numpy"], rows["torch"]
    assert dn == dt
    for key in ("rollout/mean_return", "rollout/mean_travel_time", "rollout/arrival_rate", "time/env_decisions"):
        assert rn[key] == rt[key], key


@pytest.mark.parametrize("bad", ["Numpy", "jax", "", 1, None, True])
def test_bad_rollout_forward_is_refused(bad, tmp_path):
    with pytest.raises(ConfigError, match="rollout_forward"):
        TrainConfig(rollout_forward=bad)
    path = tmp_path / "bad.yaml"
    text = {None: "null", True: "true", 1: "1"}.get(bad, repr(bad)) if not isinstance(bad, str) else repr(bad)
    path.write_text(f"rollout_forward: {text}\n")
    with pytest.raises(ConfigError, match="rollout_forward"):
        load_config(path)
