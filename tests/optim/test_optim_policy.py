import time

import pytest
import torch as th
from torch import nn

from reled_sumo.errors import ConfigError
from reled_sumo.optim.policy import MultiAgentPolicy, PerAgentPolicy, PolicyConfig, SharedPolicy, build_policy

N, D, K = 5, 6, 4


def batch(b=32, seed=0):
    g = th.Generator().manual_seed(seed)
    obs = th.randn(b, D, generator=g)
    idx = th.randint(0, N, (b,), generator=g)
    mask = th.rand(b, K, generator=g) > 0.3
    mask[:, 0] = True
    return obs, idx, mask


def reference_mlps(ensemble, n):
    """N ordinary nn.Sequential MLPs holding member n's weights (loop reference)."""
    mods = []
    for k, layer in enumerate(ensemble.layers):
        lin = nn.Linear(layer.weight.shape[1], layer.weight.shape[2])
        with th.no_grad():
            lin.weight.copy_(layer.weight[n].T)
            lin.bias.copy_(layer.bias[n])
        mods.append(lin)
        if k < len(ensemble.layers) - 1:
            mods.append(nn.Tanh())
    return nn.Sequential(*mods)


def test_per_agent_ensemble_equals_separate_mlps():
    th.manual_seed(0)
    policy = PerAgentPolicy(PolicyConfig(kind="per-agent", pi_hidden=(16, 8), vf_hidden=(12,)), N, D, K)
    with th.no_grad():  # non-trivial output layers (ortho init gives them gain 0.01)
        for p in policy.parameters():
            p.add_(0.1 * th.randn_like(p))
    obs, idx, _ = batch()
    logits = policy.action_logits(obs, idx)
    values = policy.predict_values(obs, idx)
    for n in range(N):
        rows = idx == n
        actor, critic = reference_mlps(policy.actor, n), reference_mlps(policy.critic, n)
        th.testing.assert_close(logits[rows], actor(obs[rows]), rtol=1e-5, atol=1e-6)
        th.testing.assert_close(values[rows], critic(obs[rows]).squeeze(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cfg", [PolicyConfig(), PolicyConfig(agent_embedding_dim=3),
                                 PolicyConfig(kind="per-agent", activation="relu")])
def test_api_shapes_masks_and_consistency(cfg):
    th.manual_seed(1)
    policy = build_policy(cfg, N, D, K)
    obs, idx, mask = batch()
    actions, values, log_prob = policy(obs, idx, mask)
    assert actions.shape == values.shape == log_prob.shape == (32,)
    assert bool(mask[th.arange(32), actions].all())
    v2, lp2, ent = policy.evaluate_actions(obs, idx, actions, mask)
    th.testing.assert_close(v2, values)
    th.testing.assert_close(lp2, log_prob)
    th.testing.assert_close(policy.predict_values(obs, idx), values)
    assert ent.shape == (32,) and bool((ent >= 0).all())
    a_np, v_np, lp_np = policy.act(obs.numpy(), idx.numpy(), mask.numpy(), deterministic=True)
    logits = policy.action_logits(obs, idx).masked_fill(~mask, -th.inf)
    assert (a_np == logits.argmax(1).numpy()).all()


def test_shared_policy_has_only_live_parameters_and_embedding_distinguishes_agents():
    th.manual_seed(2)
    policy = SharedPolicy(PolicyConfig(agent_embedding_dim=4, candidate_layout=(2, 3)), N, 2 + K * 3, K)
    obs = th.randn(5, 2 + K * 3)
    idx = th.arange(5) % N
    loss = policy.action_logits(obs, idx).sum() + policy.predict_values(obs, idx).sum()
    loss.backward()
    dead = [n for n, p in policy.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, dead  # every parameter feeds the actor or the critic
    policy = SharedPolicy(PolicyConfig(agent_embedding_dim=4), N, D, K)
    obs = th.randn(1, D).repeat(N, 1)
    logits = policy.action_logits(obs, th.arange(N))
    assert not th.allclose(logits[0], logits[1])
    plain = SharedPolicy(PolicyConfig(), N, D, K)
    logits = plain.action_logits(obs, th.arange(N))
    th.testing.assert_close(logits[0], logits[1])


@pytest.mark.parametrize("kind", ["shared", "per-agent"])
def test_save_load_roundtrip(tmp_path, kind):
    th.manual_seed(3)
    policy = build_policy(PolicyConfig(kind=kind, agent_embedding_dim=2), N, D, K)
    policy.save(tmp_path / "p.pt")
    loaded = MultiAgentPolicy.load(tmp_path / "p.pt")
    assert type(loaded) is type(policy) and loaded.cfg == policy.cfg
    obs, idx, mask = batch()
    th.testing.assert_close(loaded.action_logits(obs, idx), policy.action_logits(obs, idx))
    th.testing.assert_close(loaded.predict_values(obs, idx), policy.predict_values(obs, idx))


def test_hundred_agents_cost_about_one_forward():
    th.manual_seed(4)
    obs = th.randn(1024, 32)
    one = PerAgentPolicy(PolicyConfig(kind="per-agent"), 1, 32, 8)
    many = PerAgentPolicy(PolicyConfig(kind="per-agent"), 100, 32, 8)

    def timed(policy, idx):
        start = time.perf_counter()
        for _ in range(5):
            policy.evaluate_actions(obs, idx, th.zeros(1024, dtype=th.long), None)
        return time.perf_counter() - start

    timed(many, th.randint(0, 100, (1024,)))
    t_one, t_many = timed(one, th.zeros(1024, dtype=th.long)), timed(many, th.randint(0, 100, (1024,)))
    assert t_many < 5 * t_one + 0.05  # same work; no per-agent Python loop


def test_bad_policy_config():
    with pytest.raises(ConfigError):
        PolicyConfig(kind="mixed")
    with pytest.raises(ConfigError):
        PolicyConfig(pi_hidden=(0,))
