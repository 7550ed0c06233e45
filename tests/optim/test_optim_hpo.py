import numpy as np
import pytest
import torch as th

from reled_sumo.errors import ConfigError
from reled_sumo.optim import ExpertBatch, HPOConfig, HybridPPO, MultiAgentRolloutBuffer, WeightConfig

N_AGENTS, N_ARMS, OBS_DIM = 4, 3, 4 * 3


class MaskedBandit:
    """Contextual bandit: context c in {0,1,2}; agent i's best arm is (c + i) % 3 (reward 1, else 0).
    Each step, one non-best arm is masked with probability 0.5. Observation: one-hot of (i, c)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int):
        agent = np.arange(n) % N_AGENTS
        ctx = self.rng.integers(0, N_ARMS, n)
        obs = np.zeros((n, OBS_DIM), np.float32)
        obs[np.arange(n), N_ARMS * agent + ctx] = 1.0
        best = (ctx + agent) % N_ARMS
        masks = np.ones((n, N_ARMS), bool)
        other = (best + self.rng.integers(1, N_ARMS, n)) % N_ARMS
        drop = self.rng.random(n) < 0.5
        masks[np.arange(n)[drop], other[drop]] = False
        return obs, agent, masks, best

    def demos(self, n: int) -> ExpertBatch:
        obs, agent, masks, best = self.sample(n)
        return ExpertBatch(obs, best, masks, agent)


def collect(algo: HybridPPO, env: MaskedBandit, n: int = 256,
            noise: float = 0.0) -> tuple[MultiAgentRolloutBuffer, float]:
    obs, agent, masks, best = env.sample(n)
    actions, values, log_probs = algo.policy.act(obs, agent, masks)
    hits = (actions == best).astype(np.float32)
    rewards = hits + noise * env.rng.normal(size=n).astype(np.float32)
    buf = MultiAgentRolloutBuffer(n, OBS_DIM, N_ARMS, N_AGENTS)
    ones = np.ones(n, bool)
    buf.add(obs, actions, masks, rewards, values, log_probs, agent, ones, ones, ~ones)
    buf.compute_returns_and_advantage(np.full(N_AGENTS, np.nan), algo.cfg.gamma, algo.cfg.gae_lambda)
    return buf, float(hits.mean())


def expert_nll(algo: HybridPPO, demos: ExpertBatch) -> float:
    obs, actions, masks, idx = demos.to_torch()
    with th.no_grad():
        _, log_prob, _ = algo.policy.evaluate_actions(obs, idx, actions, masks)
    return float(-log_prob.mean())


FAST = dict(learning_rate=3e-3, n_epochs=4, batch_size=64, pi_hidden=(32,), vf_hidden=(32,), seed=0)


@pytest.mark.parametrize("policy", ["shared", "per-agent"])
def test_masked_bandit_is_learnt(policy):
    algo = HybridPPO(HPOConfig(policy=policy, **FAST), N_AGENTS, OBS_DIM, N_ARMS)
    env = MaskedBandit(0)
    first = None
    for _ in range(15):
        buf, reward = collect(algo, env)
        first = reward if first is None else first
        stats = algo.train(buf)
    assert first < 0.7
    assert reward > 0.9
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "mean_weight",
            "expert_loss", "explained_variance"} <= set(stats)


@pytest.mark.parametrize("policy", ["shared", "per-agent"])
@pytest.mark.parametrize("expert_loss", ["nll", "clipped"])
def test_expert_data_speeds_up_imitation(expert_loss, policy):
    """With a noisy reward, w > 0 reaches the expert's behaviour faster than plain PPO (w = 0)."""
    final = {}
    for w in (0.0, 1.0):
        algo = HybridPPO(HPOConfig(policy=policy, expert_loss=expert_loss, **FAST), N_AGENTS, OBS_DIM, N_ARMS)
        env = MaskedBandit(1)
        demos = env.demos(256)
        for _ in range(4):
            buf, _ = collect(algo, env, noise=3.0)
            stats = algo.train(buf, demos, np.full(N_AGENTS, w, np.float32))
        final[w] = expert_nll(algo, MaskedBandit(2).demos(512))
        assert stats["mean_weight"] == pytest.approx(w)
        assert "expert_nll" in stats and (stats["expert_loss"] != 0) == (w > 0)
    assert final[1.0] < 0.7 * final[0.0]


def test_deterministic_given_seed():
    def run():
        algo = HybridPPO(HPOConfig(policy="per-agent", **FAST), N_AGENTS, OBS_DIM, N_ARMS)
        env = MaskedBandit(3)
        th.manual_seed(5)
        for _ in range(2):
            buf, _ = collect(algo, env)
            algo.train(buf, env.demos(32), np.full(N_AGENTS, 0.5))
        return th.cat([p.detach().flatten() for p in algo.policy.parameters()])

    th.testing.assert_close(run(), run(), rtol=0, atol=0)


def test_target_kl_stops_early_and_logger_records():
    cfg = HPOConfig(**{**FAST, "learning_rate": 0.05, "n_epochs": 20}, target_kl=1e-4)
    algo = HybridPPO(cfg, N_AGENTS, OBS_DIM, N_ARMS)
    buf, _ = collect(algo, MaskedBandit(4))
    stats = algo.train(buf)
    assert stats["epochs"] < 20
    assert "train/approx_kl" in algo.logger.name_to_value


def test_weights_helper_and_bad_weights():
    algo = HybridPPO(HPOConfig(weight=WeightConfig(mode="fixed", fixed_weight=0.2), **FAST), 2, OBS_DIM, N_ARMS)
    np.testing.assert_allclose(algo.weights(np.zeros(2), np.zeros(2), np.array([1.0, np.nan])), [0.2, 0.0])
    algo = HybridPPO(HPOConfig(**FAST), N_AGENTS, OBS_DIM, N_ARMS)
    buf, _ = collect(algo, MaskedBandit(5))
    with pytest.raises(ValueError):
        algo.train(buf, None, np.full(N_AGENTS, -1.0))


def test_state_dict_roundtrip():
    algo = HybridPPO(HPOConfig(**FAST), N_AGENTS, OBS_DIM, N_ARMS)
    buf, _ = collect(algo, MaskedBandit(6))
    algo.train(buf)
    other = HybridPPO(HPOConfig(**{**FAST, "seed": 9}), N_AGENTS, OBS_DIM, N_ARMS)
    other.load_state_dict(algo.state_dict())
    for p, q in zip(algo.policy.parameters(), other.policy.parameters()):
        th.testing.assert_close(p, q)


@pytest.mark.parametrize("kwargs", [{"learning_rate": 0.0}, {"gamma": 1.5}, {"expert_loss": "bc"},
                                    {"policy": "mixed"}, {"target_kl": -1.0}, {"batch_size": 0},
                                    {"expert_reduction": "sum"}, {"pi_hidden": (0,)}])
def test_bad_config_raises(kwargs):
    with pytest.raises(ConfigError):
        HPOConfig(**kwargs)


def test_expert_batch_validation():
    obs, masks = np.zeros((3, 2)), np.array([[1, 0], [1, 1], [0, 1]])
    batch = ExpertBatch(obs, [0, 1, 1], masks, [0, 1, 2])
    assert len(batch) == 3 and batch.masks.dtype == bool and batch.actions.dtype == np.int64
    with pytest.raises(ValueError, match="forbidden"):
        ExpertBatch(obs, [1, 1, 1], masks, [0, 1, 2])
    with pytest.raises(ValueError, match="inconsistent"):
        ExpertBatch(obs, [0, 1], masks, [0, 1, 2])
    dropped = ExpertBatch.without_masked_actions(obs, [1, 1, 1], masks, [0, 1, 2])
    assert len(dropped) == 2 and dropped.agent_index.tolist() == [1, 2]
    assert len(ExpertBatch.concatenate([batch, dropped])) == 5


def test_multi_tensor_optimizer_gives_the_same_weights_as_one_tensor_at_a_time(monkeypatch):
    """HybridPPO uses Adam's and the gradient clipping's multi-tensor (foreach) path for speed; it must not
    change a run: the same weights, bit for bit, as torch's per-tensor path over several updates (with
    clipping active and the expert term on)."""
    import reled_sumo.optim.hpo as hpo_mod

    def run(foreach: bool):
        monkeypatch.setattr(hpo_mod, "FOREACH", foreach)
        algo = HybridPPO(HPOConfig(**{**FAST, "max_grad_norm": 0.05}), N_AGENTS, OBS_DIM, N_ARMS)
        env = MaskedBandit(7)
        th.manual_seed(11)
        for _ in range(3):
            buf, _ = collect(algo, env, noise=0.3)
            algo.train(buf, env.demos(48), np.full(N_AGENTS, 0.7))
        return [p.detach().clone() for p in algo.policy.parameters()]

    fast, slow = run(True), run(False)
    assert len(fast) == len(slow) > 2
    assert all(th.equal(a, b) for a, b in zip(fast, slow))
