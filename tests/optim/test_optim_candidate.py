"""The candidate actor scores each candidate with shared weights: permuting candidates permutes logits."""
import torch as th

from reled_sumo.optim.policy import PolicyConfig, build_policy


def _obs(b, n_own, n_cand, k, seed=0):
    g = th.Generator().manual_seed(seed)
    return th.randn(b, n_own + k * n_cand, generator=g)


def test_permutation_equivariant_shared_and_per_agent():
    n_own, n_cand, k = 3, 4, 5
    for kind in ("shared", "per-agent"):
        th.manual_seed(0)
        pol = build_policy(PolicyConfig(kind, (16,), (16,), candidate_layout=(n_own, n_cand)), 3, n_own + k * n_cand, k)
        obs = _obs(6, n_own, n_cand, k)
        idx = th.tensor([0, 1, 2, 0, 1, 2])
        perm = th.tensor([3, 1, 4, 0, 2])
        cand = obs[:, n_own:].reshape(6, k, n_cand)[:, perm].reshape(6, -1)
        obs_p = th.cat([obs[:, :n_own], cand], dim=1)
        out = pol.action_logits(obs, idx)
        out_p = pol.action_logits(obs_p, idx)
        assert th.allclose(out[:, perm], out_p, atol=1e-6), kind


def test_per_agent_members_differ():
    n_own, n_cand, k = 2, 3, 4
    th.manual_seed(0)
    pol = build_policy(PolicyConfig("per-agent", (8,), (8,), candidate_layout=(n_own, n_cand)), 2, n_own + k * n_cand, k)
    obs = _obs(1, n_own, n_cand, k).repeat(2, 1)
    out = pol.action_logits(obs, th.tensor([0, 1]))
    assert not th.allclose(out[0], out[1])
