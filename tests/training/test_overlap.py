"""overlap_rollouts: the next update's episodes are played on a worker process during learning."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch as th

from reled_sumo.errors import ConfigError
from reled_sumo.training.config import load_config
from reled_sumo.training.trainer import TrainCallback, Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


class Spy(TrainCallback):
    def on_start(self, trainer) -> None:
        self.proc = trainer.prefetch._proc


def _cfg(kotka_small, **over):
    return load_config(CI, {"scenario": str(kotka_small.path), "algo": "ippo", "env.max_agents": 5,
                            "env.horizon": 240, "total_decisions": 120, "hpo.n_epochs": 1,
                            "overlap_rollouts": True, **over})


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "progress.csv") as fh:
        return list(csv.DictReader(fh))


def test_overlapped_run_lags_one_update_and_is_reproducible(kotka_small, tmp_path):
    results, params = [], []
    for k in range(2):
        spy = Spy()
        t = Trainer(_cfg(kotka_small), run_dir=tmp_path / f"r{k}", callback=spy)
        results.append(t.run())
        params.append([p.detach().clone() for p in t.hpo.policy.parameters()])
        assert not spy.proc.is_alive()  # the worker ends with the run
    res = results[0]
    assert res.updates >= 3 and res.decisions >= 120
    rows = _rows(res.run_dir)
    lags = [float(r["rollout/policy_lag"]) for r in rows]
    assert lags == [0.0] + [1.0] * (len(rows) - 1)  # the first update waits; later ones were prefetched
    # the same seed gives the same run (the worker seeds torch per episode)
    assert results[1].decisions == res.decisions
    assert all(th.equal(a, b) for a, b in zip(*params))
    assert [r["rollout/mean_return"] for r in _rows(results[1].run_dir)] == [r["rollout/mean_return"] for r in rows]


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_prefetched_episodes_equal_episodes_played_here(kotka_small, start_method):
    """What comes back from the worker process is what the same weights and seeds give in-process."""
    from reled_sumo.env import make_env
    from reled_sumo.optim.policy import PolicyConfig, build_policy
    from reled_sumo.optim.threads import torch_threads
    from reled_sumo.training.overlap import PrefetchWorker, play

    cfg = _cfg(kotka_small)
    env = make_env(kotka_small, config=cfg.env)
    try:
        n, d, k = len(env.possible_agents), int(env.obs_dim), int(env.K)
        th.manual_seed(0)
        policy = build_policy(PolicyConfig(candidate_layout=env.candidate_layout), n, d, k)
        worker = PrefetchWorker(kotka_small, cfg.env, policy, False, (d, k, n), start_method=start_method)
        try:
            with th.no_grad():
                for p in policy.parameters():  # weights sent at submit, not those pickled at start
                    p.add_(0.3 * th.randn_like(p))
            worker.submit(policy, [5, 6])
            with th.no_grad():
                for p in policy.parameters():  # changed after submit: must not reach that batch
                    p.mul_(-1.0)
            got, got_eps = worker.take()
            with th.no_grad():
                for p in policy.parameters():
                    p.mul_(-1.0)
            with torch_threads(1):  # as the worker (torch_threads: 1): the same matmul reduction order
                want, want_eps = play(env, policy, [5, 6], (d, k, n))
        finally:
            worker.close()
    finally:
        env.close()
    assert set(got) == set(want) and len(want["obs"]) > 0
    for f in want:
        np.testing.assert_array_equal(got[f], want[f], err_msg=f)
    assert [e.decisions for e in got_eps] == [e.decisions for e in want_eps]
    np.testing.assert_array_equal(got_eps[1].returns, want_eps[1].returns)


def test_overlap_config_errors():
    with pytest.raises(ConfigError, match="overlap_rollouts"):
        load_config(CI, {"overlap_rollouts": True, "rollout_workers": 2})
    with pytest.raises(ConfigError, match="overlap_rollouts"):
        load_config(CI, {"overlap_rollouts": "yes"})


def test_overlap_with_reled_measuring_updates(kotka_small, tmp_path):
    """reled measures edge times on the learner's env every sed_every-th update: nothing is prefetched
    for it, and the update after it plays its episodes on demand (lag 0)."""
    cfg = _cfg(kotka_small, algo="reled", sed_every=3, **{"sed.rounds": 1}, total_decisions=200)
    res = Trainer(cfg, run_dir=tmp_path / "reled").run()
    assert res.updates >= 4
    lags = [r["rollout/policy_lag"] for r in _rows(res.run_dir)][:4]
    assert [float(x) if x else None for x in lags] == [0.0, 1.0, None, 0.0]
