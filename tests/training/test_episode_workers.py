"""episode_workers: an update's episodes play at the same time on the learner and worker processes."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch as th

from reled_sumo.errors import ConfigError
from reled_sumo.training import overlap
from reled_sumo.training.config import load_config
from reled_sumo.training.overlap import split_seeds
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def _cfg(kotka_small, **over):
    return load_config(CI, {"scenario": str(kotka_small.path), "algo": "ippo", "env.max_agents": 5,
                            "env.horizon": 240, "total_updates": 2, "hpo.n_epochs": 1,
                            "episodes_per_update": 3, **over})


def _returns(run_dir: Path) -> list[str]:
    with open(run_dir / "progress.csv") as fh:
        return [r["rollout/mean_return"] for r in csv.DictReader(fh)]


def test_the_result_does_not_depend_on_how_many_workers_play(kotka_small, tmp_path, monkeypatch):
    """No worker, 1 and 2 worker processes give the same run, and the workers do play their share."""
    taken = []
    real_take = overlap.PrefetchWorker.take

    def counting_take(self):
        columns, episodes = real_take(self)
        taken.append(len(episodes))
        return columns, episodes

    monkeypatch.setattr(overlap.PrefetchWorker, "take", counting_take)
    runs = {}
    for w in (0, 1, 2):
        taken.clear()
        t = Trainer(_cfg(kotka_small, episode_workers=w), run_dir=tmp_path / f"w{w}")
        res = t.run()
        if w:
            assert t.splitter is not None and all(x._proc is None for x in t.splitter.workers)  # closed
        else:
            assert t.splitter is None
        assert sum(taken) == {0: 0, 1: 3 - 2, 2: 3 - 1}[w] * res.updates  # the workers' share: 0, 1 or 2 of 3
        runs[w] = (res, [p.detach().clone() for p in t.hpo.policy.parameters()])
    (r0, p0) = runs[0]
    for w in (1, 2):
        r, p = runs[w]
        assert r.decisions == r0.decisions and r.updates == r0.updates == 2
        assert all(th.equal(a, b) for a, b in zip(p, p0))
        assert _returns(r.run_dir) == _returns(r0.run_dir)


@pytest.mark.parametrize("over,cpus,expected", [
    ({"episodes_per_update": 3}, 2, 1),     # one worker per spare core ...
    ({"episodes_per_update": 3}, 8, 2),     # ... and at most one per episode beside the learner's
    ({"episodes_per_update": 3}, 1, 0),     # one core: nothing to run a worker on
    ({"episodes_per_update": 1}, 8, 0),     # one episode per update: nothing to share
    ({"episodes_per_update": 3, "rollout_workers": 2}, 8, 0),
    ({"episodes_per_update": 3, "overlap_rollouts": True}, 8, 0),
    ({"episodes_per_update": 3, "device": "cuda"}, 8, 0),
    ({"episodes_per_update": 3, "episode_workers": 1}, 8, 1),  # a number is taken as given
    ({"episodes_per_update": 3, "episode_workers": 0}, 8, 0),
])
def test_auto_episode_workers_use_the_spare_cores(over, cpus, expected):
    cfg = load_config(CI, over)
    assert cfg.episode_workers == over.get("episode_workers", "auto")
    assert cfg.resolved_episode_workers(cpus) == expected


def test_split_seeds_keeps_the_order_and_shares_evenly():
    assert split_seeds([1, 2, 3, 4, 5], 3) == [[1, 2], [3, 4], [5]]
    assert split_seeds([7, 8], 2) == [[7], [8]]
    assert split_seeds([4, 5, 6], 1) == [[4, 5, 6]]


@pytest.mark.parametrize("over,match", [
    ({"episode_workers": 3}, "below episodes_per_update"),
    ({"episode_workers": 1, "overlap_rollouts": True}, "cannot be combined"),
    ({"episode_workers": 1, "rollout_workers": 2}, "cannot be combined"),
    ({"episode_workers": -1}, "episode_workers"),
    ({"episode_workers": 1, "device": "cuda"}, "device: cpu"),
    ({"episode_workers": "two"}, "episode_workers"),
    ({"episode_workers": "Auto"}, "episode_workers"),
    ({"episode_workers": 1.5}, "episode_workers"),
    ({"episode_workers": True}, "episode_workers"),
])
def test_bad_episode_worker_settings_are_refused(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(CI, {"episodes_per_update": 3, **over})
