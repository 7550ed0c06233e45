"""The rollout's masked sampling (optim.sampling) against sb3-contrib's distribution path:
the same actions (same torch RNG draws) and bit-identical log-probabilities."""
import numpy as np
import pytest
import torch as th

from reled_sumo.optim.sampling import masked_sample
from reled_sumo.optim.policy import PolicyConfig, build_policy
from reled_sumo.env.observation import N_CAND, N_OWN, obs_size


def _inputs(b: int, k: int, seed: int):
    g = th.Generator().manual_seed(seed)
    logits = th.randn(b, k, generator=g) * 3
    mask = th.rand(b, k, generator=g) < 0.6
    mask[th.arange(b), th.randint(0, k, (b,), generator=g)] = True  # at least one valid action
    mask[0] = False
    mask[0, k - 1] = True  # a row with a single valid action
    return logits, mask


def _reference(policy_dist, logits, mask, deterministic):
    dist = policy_dist.proba_distribution(logits)
    if mask is not None:
        dist.apply_masking(mask)
    a = dist.get_actions(deterministic=deterministic)
    return a, dist.log_prob(a)


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("masked", [True, False])
def test_masked_sample_equals_the_distribution_path(deterministic, masked):
    from sb3_contrib.common.maskable.distributions import MaskableCategoricalDistribution
    from reled_sumo.optim.losses import premask_logits

    for seed, (b, k) in enumerate([(1, 4), (7, 4), (64, 6), (300, 3)]):
        logits, mask = _inputs(b, k, seed)
        m = mask if masked else None
        th.manual_seed(seed)
        ref_a, ref_lp = _reference(MaskableCategoricalDistribution(k), premask_logits(logits, m), m, deterministic)
        th.manual_seed(seed)
        a, lp = masked_sample(logits, m, deterministic)
        assert th.equal(a, ref_a)
        assert th.equal(lp, ref_lp)
        if masked:
            assert bool(mask[th.arange(b), a].all())  # never a masked action


def test_policy_forward_draws_what_the_distribution_draws():
    k = 4
    pc = PolicyConfig("shared", (16,), (16,), candidate_layout=(N_OWN, N_CAND), prior=(0, 0.5))
    th.manual_seed(0)
    pol = build_policy(pc, 5, obs_size(k), k).eval()
    g = th.Generator().manual_seed(1)
    obs = th.randn(40, obs_size(k), generator=g)
    idx = th.randint(0, 5, (40,), generator=g)
    mask = th.rand(40, k, generator=g) < 0.5
    mask[:, 2] = True
    with th.no_grad():
        th.manual_seed(3)
        a, v, lp = pol(obs, idx, mask)
        th.manual_seed(3)
        dist = pol.distribution(obs, idx, mask)
        ref_a = dist.get_actions()
        assert th.equal(a, ref_a)
        assert th.equal(lp, dist.log_prob(ref_a))
        assert th.equal(v, pol.predict_values(obs, idx))



def test_act_returns_what_the_forward_returns_with_the_same_seed():
    """``torch_act`` (numpy in and out, inference mode) draws the forward's actions, values and
    log-probs, bit for bit (``act``'s numpy copy: tests/optim/test_fast_act.py)."""
    k = 4
    pc = PolicyConfig("shared", (16,), (16,), agent_embedding_dim=3, candidate_layout=(N_OWN, N_CAND), prior=(0, 0.5))
    th.manual_seed(0)
    pol = build_policy(pc, 5, obs_size(k), k)
    g = th.Generator().manual_seed(2)
    obs, idx = th.randn(3, obs_size(k), generator=g), th.randint(0, 5, (3,), generator=g)
    mask = th.rand(3, k, generator=g) < 0.5
    mask[:, 1] = True
    for seed in range(20):
        th.manual_seed(seed)
        a, v, lp = pol.torch_act(obs.numpy(), idx.numpy(), mask.numpy())
        th.manual_seed(seed)
        with th.no_grad():
            ref = pol(obs, idx, mask)
        for got, want in zip((a, v, lp), ref):
            assert np.array_equal(got, want.numpy())
    # the policy still trains after acting (no inference tensor leaks into autograd)
    values, log_prob, _ = pol.evaluate_actions(obs, idx, th.as_tensor(a), mask)
    (values.sum() + log_prob.sum()).backward()
    assert all(p.grad is not None for p in pol.critic.parameters())


def _distribution_path(pol, obs, idx, actions, mask):
    """evaluate_actions as it was: sb3-contrib's distribution objects."""
    dist = pol.distribution(obs, idx, mask)
    return pol.predict_values(obs, idx), dist.log_prob(actions), dist.entropy()


@pytest.mark.parametrize("kind,emb", [("shared", 0), ("shared", 3), ("per-agent", 0)])
@pytest.mark.parametrize("masked", [True, False])
def test_evaluate_actions_values_and_gradients_equal_the_distribution_path(kind, emb, masked):
    """The training forward (log-probs, entropies, values) and the gradients of a PPO-like loss
    through it are bit-identical to the distribution path's."""
    k, n, b = 4, 6, 50
    pc = PolicyConfig(kind, (16,), (16,), agent_embedding_dim=emb if kind == "shared" else 0,
                      candidate_layout=(N_OWN, N_CAND), prior=(0, 0.5))
    th.manual_seed(0)
    pol = build_policy(pc, n, obs_size(k), k)
    g = th.Generator().manual_seed(2)
    obs = th.randn(b, obs_size(k), generator=g)
    idx = th.randint(0, n, (b,), generator=g)
    mask = th.rand(b, k, generator=g) < 0.5
    mask[:, 1] = True
    mask[0] = False
    mask[0, 3] = True
    actions = th.multinomial(mask.float(), 1, generator=g).squeeze(1)
    m = mask if masked else None
    outs, grads = [], []
    for fn in (pol.evaluate_actions, lambda *a: _distribution_path(pol, *a)):
        pol.zero_grad(set_to_none=True)
        v, lp, ent = fn(obs, idx, actions, m)
        (-(lp * th.linspace(-1, 1, b)).mean() + 0.5 * v.pow(2).mean() - 0.01 * ent.mean()).backward()
        outs.append((v.detach(), lp.detach(), ent.detach()))
        grads.append([p.grad.clone() for p in pol.parameters()])
    for x, y in zip(*outs):
        assert th.equal(x, y)
    for x, y in zip(*grads):
        assert th.equal(x, y)
