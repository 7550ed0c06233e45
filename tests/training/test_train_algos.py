"""Algorithm pieces: BC, the MAPPO centralized critic, demos -> ExpertBatch, the growing buffer."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch as th

from reled_sumo.demos.trajectory import DemoSet, Trajectory
from reled_sumo.optim.policy import PolicyConfig
from reled_sumo.training.algos import GrowingRolloutBuffer, demos_to_expert, episode_seed
from reled_sumo.training.checkpoint import build_run_policy, load_policy
from reled_sumo.training.config import load_config
from reled_sumo.training.mappo import CentralCriticPolicy, GlobalStateEnv
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def _run(scenario, tmp_path, **extra):
    base = {"scenario": str(scenario.path), "env.max_agents": 6, "env.horizon": 240}
    cfg = load_config(CI, {**base, **extra})
    result = Trainer(cfg, run_dir=tmp_path / cfg.algo).run()
    with open(result.run_dir / "progress.csv") as fh:
        return result, list(csv.DictReader(fh))


def _expert_nll(policy, demos: DemoSet, agents: list[str]) -> float:
    ex = demos_to_expert(demos, agents, 0, 0.0).batch
    obs, actions, masks, idx = ex.to_torch()
    with th.no_grad():
        _, logp, _ = policy.evaluate_actions(obs, idx, actions, masks)
    return float(-logp.mean())


def test_bc_reduces_the_expert_nll(kotka_small, tmp_path):
    result, rows = _run(kotka_small, tmp_path, algo="bc", total_decisions=400,
                        **{"hpo.n_epochs": 8, "hpo.learning_rate": 3e-3})
    policy, meta = load_policy(result.run_dir)
    demos = DemoSet.load(result.run_dir / "demos")
    th.manual_seed(0)  # the initial policy: HybridPPO seeds torch with the run seed before building it
    initial = build_run_policy(meta)
    agents = meta["possible_agents"]
    before, after = _expert_nll(initial, demos, agents), _expert_nll(policy, demos, agents)
    assert after < 0.8 * before
    nll = [float(r["train/expert_nll"]) for r in rows]
    assert nll[-1] < nll[0]
    assert float(rows[-1]["expert/w_mean"]) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["shared", "per-agent"])
def test_central_critic_shapes_and_decentralized_actor(kind):
    n, d, g, k, b = 5, 7, 9, 4, 6
    th.manual_seed(0)
    pol = CentralCriticPolicy(PolicyConfig(kind=kind), n, d, k, g)
    obs, idx = th.randn(b, d + g), th.randint(0, n, (b,))
    mask = th.ones(b, k, dtype=th.bool)
    assert pol.obs_dim == d + g and pol.predict_values(obs, idx).shape == (b,)
    assert pol.action_logits(obs, idx).shape == (b, k)
    other_state = th.cat([obs[:, :d], th.randn(b, g)], dim=1)
    assert th.equal(pol.action_logits(obs, idx), pol.action_logits(other_state, idx))  # actor: own obs only
    assert not th.equal(pol.predict_values(obs, idx), pol.predict_values(other_state, idx))  # critic: global
    assert th.equal(pol.action_logits(obs[:, :d], idx), pol.action_logits(obs, idx))  # plain obs at execution
    values, logp, ent = pol.evaluate_actions(obs, idx, th.zeros(b, dtype=th.long), mask)
    assert values.shape == logp.shape == ent.shape == (b,)
    a, v, lp = pol.act(obs[:, :d].numpy(), idx.numpy(), mask.numpy())
    assert a.shape == v.shape == lp.shape == (b,)


class _FakeEnv:
    possible_agents = ["a", "b"]
    obs_dim = 3

    def reset(self, seed=None, options=None):
        return {"a": np.array([1, 2, 3], np.float32), "b": np.array([3, 4, 5], np.float32)}, {}

    def step(self, actions):
        return {"b": np.array([1, 1, 1], np.float32)}, {}, {}, {}, {}


def test_global_state_env_mean_pools_live_agents():
    env = GlobalStateEnv(_FakeEnv())
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs["a"], [1, 2, 3, 2, 3, 4])
    np.testing.assert_array_equal(obs["b"], [3, 4, 5, 2, 3, 4])
    obs, *_ = env.step({})
    np.testing.assert_array_equal(obs["b"], [1, 1, 1, 1, 1, 1])
    assert env.possible_agents == ["a", "b"] and env.dim == 3


def test_mappo_run_stores_the_global_state(kotka_small, tmp_path):
    result, rows = _run(kotka_small, tmp_path, algo="mappo", total_decisions=100, **{"hpo.policy": "per-agent"})
    policy, meta = load_policy(result.run_dir)
    assert meta["central_critic"] and meta["state_dim"] >= 1 and policy.obs_dim == meta["obs_dim"] + meta["state_dim"]
    assert isinstance(policy, CentralCriticPolicy) and float(rows[-1]["train/value_loss"]) > 0


def _traj(agent: str, t: int, k: int = 3, d: int = 4) -> Trajectory:
    masks = np.ones((t, k), bool)
    return Trajectory(agent, np.full((t, d), 0.5, np.float32), np.arange(t) % k, masks, -np.ones(t, np.float32),
                      np.c_[np.arange(t + 1.0), np.zeros(t + 1)], ("e",), 10.0 * t, True, 0.5)


def test_demos_to_expert_uses_possible_agents_order():
    demos = DemoSet({"y": _traj("y", 2), "x": _traj("x", 3), "ghost": _traj("ghost", 1)})
    ex = demos_to_expert(demos, ["x", "z", "y"], version=2, bound=0.1)
    assert ex.batch.agent_index.tolist() == [2, 2, 0, 0, 0]
    assert ex.returns[0] == pytest.approx(-2.5) and np.isnan(ex.returns[1]) and ex.returns[2] == pytest.approx(-1.5)
    assert ex.paths[1] is None and ex.paths[0].shape == (4, 2) and ex.version == 2


def test_growing_buffer_keeps_rows_when_it_grows():
    buf = GrowingRolloutBuffer(2, obs_dim=3, n_actions=2, n_agents=2)
    for t in range(5):
        buf.add(obs=np.full((1, 3), t), actions=[t % 2], masks=np.ones((1, 2)), rewards=[t], values=[0.0],
                log_probs=[0.0], agent_index=[t % 2], episode_start=[t < 2], terminated=[t >= 3],
                truncated=[False], positions=[[t, t]])
    assert len(buf) == 5 and buf.capacity >= 5
    assert buf.rewards[:5].tolist() == [0, 1, 2, 3, 4] and buf.obs[4, 0] == 4 and buf.positions[3, 1] == 3
    buf.compute_returns_and_advantage(np.zeros(2), 0.99, 0.95)
    # per-agent GAE over the grown rows (values 0): agent 0 at t = 0, 2, 4, agent 1 at t = 1, 3, both terminated
    c = 0.99 * 0.95
    assert buf.returns[:5].ravel() == pytest.approx([c * (2 + c * 4), 1 + c * 3, 2 + c * 4, 3, 4])


def test_episode_seeds_are_distinct_and_stable():
    seeds = [episode_seed(0, e) for e in range(50)]
    assert len(set(seeds)) == 50 and seeds == [episode_seed(0, e) for e in range(50)]
    assert all(0 <= s < 2**31 - 1 for s in seeds) and episode_seed(1, 0) != seeds[0]
