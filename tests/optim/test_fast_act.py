"""The numpy forward of rollouts (optim/fast_act.py) against torch's, and when it is rebuilt."""
from __future__ import annotations

import numpy as np
import pytest
import torch as th

from reled_sumo.env.observation import N_CAND, N_OWN, obs_size
from reled_sumo.optim.fast_act import plain_mlp_activation
from reled_sumo.optim.policy import PolicyConfig, build_policy
from reled_sumo.training.mappo import CentralCriticPolicy

K = 4


def _policy(emb: int = 8, activation: str = "tanh", kind: str = "shared", seed: int = 0):
    cfg = PolicyConfig(kind, (32, 32), (32, 32), activation=activation, agent_embedding_dim=emb,
                       candidate_layout=(N_OWN, N_CAND), prior=(3, 0.5), residual_gain=15.0)
    th.manual_seed(seed)
    pol = build_policy(cfg, 10, obs_size(K), K)
    with th.no_grad():  # away from the init's near-zero policy head, so the logits matter
        for p in pol.parameters():
            p.add_(0.3 * th.randn_like(p))
    return pol


def _batch(seed: int, b: int = 3):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(b, obs_size(K))).astype(np.float32)
    idx = rng.integers(0, 10, size=b)
    mask = rng.random((b, K)) < 0.6
    mask[:, 2] = True
    return obs, idx, mask


def _both(pol, obs, idx, mask, seed, deterministic=False):
    th.manual_seed(seed)
    fast = pol.act(obs, idx, mask, deterministic)
    th.manual_seed(seed)
    ref = pol.torch_act(obs, idx, mask, deterministic)
    return fast, ref


def _assert_same(fast, ref):
    assert np.array_equal(fast[0], ref[0])
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast[2], ref[2], rtol=1e-5, atol=1e-5)
    assert fast[0].dtype == np.int64 and fast[1].dtype == np.float32 and fast[2].dtype == np.float32


@pytest.mark.parametrize("emb,activation", [(0, "tanh"), (8, "tanh"), (8, "relu")])
def test_numpy_act_draws_torchs_actions_from_the_same_seed(emb, activation):
    pol = _policy(emb, activation)
    pol.set_logit_scale(0.1)  # spread the draws: the sampled action often is not the greedy one
    assert pol._numpy_forward() is not None
    n_flips = 0
    for seed in range(300):
        obs, idx, mask = _batch(seed, b=1 + seed % 5)
        fast, ref = _both(pol, obs, idx, mask, seed)
        _assert_same(fast, ref)
        assert mask[np.arange(len(obs)), fast[0]].all()
        greedy, greedy_ref = _both(pol, obs, idx, mask, seed, deterministic=True)
        _assert_same(greedy, greedy_ref)
        n_flips += int((greedy[0] != fast[0]).any())
    assert n_flips > 30  # the sampled actions are not just the greedy ones: the draw is tested


def test_the_copy_follows_optimiser_steps_loads_and_the_logit_scale():
    pol = _policy()
    obs, idx, mask = _batch(1, b=5)
    before = pol.act(obs, idx, mask, True)
    opt = th.optim.SGD(pol.parameters(), lr=0.5)
    values, log_prob, _ = pol.evaluate_actions(th.as_tensor(obs), th.as_tensor(idx),
                                               th.as_tensor(before[0]), th.as_tensor(mask))
    (values.sum() - 5 * log_prob.sum()).backward()
    opt.step()
    after, ref = _both(pol, obs, idx, mask, 0, deterministic=True)
    _assert_same(after, ref)
    assert not np.allclose(after[1], before[1])  # the step moved the values, and act saw it
    pol.load_state_dict(_policy(seed=5).state_dict())
    _assert_same(*_both(pol, obs, idx, mask, 0, deterministic=True))
    for scale in (0.2, 3.0):
        pol.set_logit_scale(scale)
        _assert_same(*_both(pol, obs, idx, mask, 7))


def test_policies_without_a_numpy_copy_act_in_torch():
    per_agent = _policy(emb=0, kind="per-agent")
    cfg = PolicyConfig("shared", (16,), (16,), candidate_layout=(N_OWN, N_CAND), prior=(3, 0.5))
    central = CentralCriticPolicy(cfg, 10, obs_size(K), K, state_dim=6)
    flat = build_policy(PolicyConfig("shared", (16,), (16,)), 10, obs_size(K), K)
    switched_off = _policy()
    switched_off.numpy_forward = False
    obs, idx, mask = _batch(2)
    for pol in (per_agent, central, flat):
        assert pol._numpy_forward() is None
    for pol in (per_agent, flat, switched_off):
        th.manual_seed(4)
        got = pol.act(obs, idx, mask)
        th.manual_seed(4)
        want = pol.torch_act(obs, idx, mask)
        for g, w in zip(got, want):
            assert np.array_equal(g, w)


def test_only_plain_mlps_are_copied():
    lin = th.nn.Linear(3, 3)
    assert plain_mlp_activation(th.nn.Sequential(lin, th.nn.Tanh(), th.nn.Linear(3, 1))) == "tanh"
    assert plain_mlp_activation(th.nn.Sequential(lin, th.nn.ReLU(), th.nn.Linear(3, 1))) == "relu"
    assert plain_mlp_activation(th.nn.Sequential(lin, th.nn.Linear(3, 1))) is None  # no activation between
    assert plain_mlp_activation(th.nn.Sequential(lin, th.nn.Sigmoid(), th.nn.Linear(3, 1))) is None
    assert plain_mlp_activation(th.nn.Sequential(lin, th.nn.Tanh(), th.nn.Linear(3, 3), th.nn.ReLU(),
                                                 th.nn.Linear(3, 1))) is None  # two kinds
    assert plain_mlp_activation(th.nn.Sequential(th.nn.Linear(3, 1, bias=False))) is None
    assert plain_mlp_activation(lin) is None


def test_a_pickled_copy_builds_its_own_numpy_copy():
    """A worker's policy arrives pickled (torch.save of the module) and then loads new weights."""
    import io

    pol = _policy()
    obs, idx, mask = _batch(3, b=4)
    pol.act(obs, idx, mask)  # the learner has a numpy copy
    buf = io.BytesIO()
    th.save(pol, buf)
    worker = th.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert worker._fast is None  # the copy did not travel
    worker.load_state_dict(_policy(seed=9).state_dict())
    _assert_same(*_both(worker, obs, idx, mask, 2))
    assert not np.allclose(worker.act(obs, idx, mask, True)[1], pol.act(obs, idx, mask, True)[1])


def test_runs_hold_numpy_to_one_blas_thread_and_give_it_back():
    """OpenBLAS threads made the numpy forward slower than torch's at 64 deciders on 2 cores:
    the trainer's thread block limits BLAS as well as torch, and restores both."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from reled_sumo.optim.threads import torch_threads

    with threadpool_limits(limits=2, user_api="blas"):
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert before and all(n == 2 for n in before)
        t0 = th.get_num_threads()
        with torch_threads(1):
            assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
            assert th.get_num_threads() == 1
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
        assert th.get_num_threads() == t0
