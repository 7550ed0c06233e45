"""The routing env in RLlib's multi-agent conventions (`integrations/multiagent.py`, no Ray needed)
and under RLlib itself (`integrations/rllib.py`: skipped where the `[rllib]` extra is missing),
on real SUMO runs of the shipped sample scenario (Kotka network)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.env.episode import run_episode, shortest_act
from reled_sumo.env.policies import shortest_actions
from reled_sumo.errors import ConfigError, ScenarioNotBuiltError, UserInputError
from reled_sumo.integrations.multiagent import ALL, MASK_KEY, OBS_KEY, RoutingMultiAgentEnv, env_from_config
from reled_sumo.integrations.rllib import RllibPPOOptions

SEED = 3
# 3 agents departing ~140 s apart: the first arrives before the next departs (RLlib would end
# its episode there if the adapter reported it at once)
SPARSE = {"agent_share": 0.1}
BUSY = {"max_agents": 12, "horizon": 300.0}  # ends at the horizon with agents on the road


def _rllib_or_skip():
    from reled_sumo.integrations.rllib import import_rllib

    try:
        import_rllib()
    except ConfigError as exc:
        pytest.skip(f"the [rllib] extra is not installed: {exc}")


def _adapter(sample_scenario, options):
    return RoutingMultiAgentEnv(make_env(sample_scenario, **options))


def _shortest(obs, acting):
    """{agent: free-flow shortest-path action} for the deciders among ``obs``."""
    if not acting:
        return {}
    o = np.stack([obs[a][OBS_KEY] for a in acting])
    m = np.stack([obs[a][MASK_KEY] for a in acting]).astype(bool)
    return dict(zip(acting, shortest_actions(o, m).tolist()))


def _play(env, seed=SEED, override=None):
    """One episode with the shortest-path policy (``override(step, obs, acting, actions)`` may
    change the actions); every returned step, and the per-agent reward sums."""
    obs, infos = env.reset(seed=seed)
    steps = [(obs, {}, {}, {}, infos, {})]
    returns: dict[str, float] = {}
    while True:
        acting = [a for a, i in infos.items() if i["needs_decision"]]
        actions = _shortest(obs, acting)
        if override is not None:
            actions = override(len(steps), obs, acting, actions)
        obs, rew, term, trunc, infos = env.step(actions)
        steps.append((obs, rew, term, trunc, infos, actions))
        for a, r in rew.items():
            returns[a] = returns.get(a, 0.0) + r
        if term[ALL] or trunc[ALL]:
            return steps, returns


def test_every_possible_agent_and_its_spaces_are_declared_up_front(sample_scenario):
    env = _adapter(sample_scenario, SPARSE)
    inner = env.env
    assert env.possible_agents == inner.possible_agents and len(env.possible_agents) == 3
    obs, _ = env.reset(seed=SEED)
    later = [a for a in env.possible_agents if a not in inner.agents]
    assert later, "some agents depart after the reset"
    for a in env.possible_agents:  # the ones that depart later too
        space = env.get_observation_space(a)
        assert space[OBS_KEY].shape == (inner.obs_dim,) and space[MASK_KEY].shape == (inner.K,)
        assert env.get_action_space(a).n == inner.K
    for a, o in obs.items():
        assert env.get_observation_space(a).contains(o)
    env.close()


def test_only_deciders_observe_and_every_step_has_one_unless_it_ends(sample_scenario):
    env = _adapter(sample_scenario, BUSY)
    steps, _ = _play(env)
    env.close()
    decisions = 0
    for k, (obs, _, term, trunc, infos, _) in enumerate(steps):
        done = {a for a in term if a != ALL and (term[a] or trunc[a])}
        acting = set(obs) - done
        assert acting or term.get(ALL) or trunc.get(ALL), f"step {k} has nobody to act"
        for a in acting:
            assert infos[a]["needs_decision"]
            assert np.array_equal(obs[a][MASK_KEY], np.asarray(infos[a]["action_mask"], dtype=np.float32))
            assert obs[a][MASK_KEY].dtype == np.float32 and obs[a][MASK_KEY].any()
            assert env.get_observation_space(a).contains(obs[a])
        for a in done:
            assert a in obs and not obs[a][MASK_KEY].any()  # the final observation: nothing to choose
        decisions += len(acting)
    assert decisions > 20
    obs, rew, term, trunc, _ = steps[-1][:5]
    assert trunc[ALL] and not term[ALL]  # the horizon cut the episode
    assert any(trunc.get(a) for a in obs)


def test_a_done_agent_is_held_back_until_rllib_knows_a_running_one(sample_scenario):
    """RLlib ends an episode once every agent it has seen is done: a done agent is reported
    only with another seen, running agent, or with __all__ -- and still exactly once."""
    env = _adapter(sample_scenario, SPARSE)
    steps, _ = _play(env)
    env.close()
    seen: set[str] = set()
    done_at: dict[str, int] = {}
    held_back = 0
    first_obs: dict[str, int] = {}
    for k, (obs, _, term, trunc, _, _) in enumerate(steps):
        done = [a for a in term if a != ALL and (term[a] or trunc[a])]
        for a in done:
            assert a not in done_at and a in seen, a
            done_at[a] = k
        if done and not term.get(ALL):
            assert seen - set(done_at), f"step {k}: every agent RLlib knows would be done"
        for a in obs:
            first_obs.setdefault(a, k)
        seen |= set(obs)
    for a, k in done_at.items():
        held_back += any(first_obs[b] < k and first_obs[b] > first_obs[a] for b in first_obs)
    assert set(done_at) == seen == set(env.possible_agents)
    assert held_back >= 1  # this scenario needs the hold-back (the probe of the test's premise)


@pytest.mark.parametrize("options", [SPARSE, BUSY], ids=["sparse", "horizon"])
def test_the_rewards_are_the_pettingzoo_envs(sample_scenario, options):
    """Summed per agent, the adapter's rewards are the PettingZoo episode's returns (same seed,
    same actions), nothing lost in the internally advanced steps or the held-back reports."""
    env = _adapter(sample_scenario, options)
    _, returns = _play(env)
    env.close()
    ref_env = make_env(sample_scenario, **options)
    stats = run_episode(ref_env, shortest_act, seed=SEED)
    ref_env.close()
    decided = {a for i, a in enumerate(ref_env.possible_agents) if stats.paths[i]}
    assert set(returns) == decided
    for i, a in enumerate(ref_env.possible_agents):
        if a in decided:
            assert returns[a] == pytest.approx(stats.returns[i], abs=1e-9), a


@pytest.fixture(scope="module")
def clean_run(sample_scenario):
    env = _adapter(sample_scenario, SPARSE)
    out = _play(env)
    env.close()
    return out


def _first_masked_slot(obs, acting):
    for a in acting:
        off = np.flatnonzero(obs[a][MASK_KEY] == 0)
        if off.size:
            return a, int(off[0])
    return None


@pytest.mark.parametrize("bad", ["masked", "k", -1, 2.5, "left", [0, 1], None],
                         ids=["masked", "K", "negative", "fraction", "string", "list", "none"])
def test_an_invalid_action_drives_the_best_candidate_and_costs_the_penalty(sample_scenario, clean_run, bad):
    """A masked-out, out-of-range or non-integer action: the env drives the best valid candidate
    (the shortest-path choice, so the episode is the clean one) and the agent's reward is lower
    by invalid_action_penalty. A missing action (None) is no invalid action."""
    env = _adapter(sample_scenario, SPARSE)
    chosen: list = []

    def override(k, obs, acting, actions):
        if not chosen and (hit := _first_masked_slot(obs, acting)):
            a, slot = hit
            value = {"masked": slot, "k": env.env.K}.get(bad, bad) if isinstance(bad, str) else bad
            if value is None:
                del actions[a]
            else:
                actions[a] = value
            chosen.append(a)
        return actions

    steps, returns = _play(env, override=override)
    env.close()
    (agent,) = chosen
    clean_steps, clean_returns = clean_run
    assert len(steps) == len(clean_steps)
    penalty = 0.0 if bad is None else env.env.config.invalid_action_penalty
    assert returns[agent] == pytest.approx(clean_returns[agent] - penalty, abs=1e-9)
    assert {a: r for a, r in returns.items() if a != agent} == pytest.approx(
        {a: r for a, r in clean_returns.items() if a != agent}, abs=1e-9)
    last_info = [s[4][agent] for s in steps if agent in s[4]][-1]
    assert last_info["n_invalid_actions"] == (0 if bad is None else 1)


def test_actions_for_agents_that_are_not_deciding_are_refused(sample_scenario):
    env = _adapter(sample_scenario, SPARSE)
    obs, infos = env.reset(seed=SEED)
    acting = list(obs)
    idle = [a for a in env.possible_agents if a not in obs]
    with pytest.raises(UserInputError, match="not at a decision point"):
        env.step({"no_such_vehicle": 0, **_shortest(obs, acting)})
    with pytest.raises(UserInputError, match=re.escape(idle[0])):
        env.step({idle[0]: 0})
    # refused before anything was sent to SUMO: the episode goes on as if they never happened
    obs2, rew, term, trunc, _ = env.step(_shortest(obs, acting))
    env.close()
    ref = _adapter(sample_scenario, SPARSE)
    r_obs, _ = ref.reset(seed=SEED)
    r_obs2, r_rew, *_ = ref.step(_shortest(r_obs, list(r_obs)))
    ref.close()
    assert obs2.keys() == r_obs2.keys() and rew == r_rew
    assert all(np.array_equal(obs2[a][OBS_KEY], r_obs2[a][OBS_KEY]) for a in obs2)


def test_a_step_after_the_end_returns_only_all_done(sample_scenario):
    env = _adapter(sample_scenario, SPARSE)
    _play(env)
    assert env.step({}) == ({}, {}, {ALL: True}, {ALL: False}, {})
    with pytest.raises(UserInputError):
        env.step({env.possible_agents[0]: 0})
    env.close()


@pytest.mark.parametrize("env_config, error, message", [
    ({"scenario": "x", "horizon": 10}, ConfigError, "unknown env_config key"),
    ({"env_options": {}}, ConfigError, "needs 'scenario'"),
    ({"scenario": "tests/data/sample_scenario", "env_options": [("horizon", 10)]}, ConfigError, "mapping"),
    ({"scenario": "tests/data/sample_scenario", "env_options": {"horizon": -5}}, ConfigError, "horizon"),
    ({"scenario": "tests/data/sample_scenario", "env_options": {"max_agent": 3}}, ConfigError, "unknown environment"),
    ({"scenario": "tests/data/sample_scenario", "env_options": {"max_agents": 31}}, ConfigError, "only 30"),
    ({"scenario": "no-such-city"}, ScenarioNotBuiltError, "not built"),
    (["scenario", "kotka"], ConfigError, "must be a mapping"),
])
def test_bad_env_configs_are_clear_errors(env_config, error, message, monkeypatch, tmp_path):
    monkeypatch.setenv("RELED_HOME", str(tmp_path))
    monkeypatch.chdir(Path(__file__).parents[2])
    with pytest.raises(error, match=message):
        env_from_config(env_config)


@pytest.mark.parametrize("options, message", [
    ({"num_env_runners": -1}, "num_env_runners"),
    ({"train_batch_size": 0}, "train_batch_size"),
    ({"minibatch_size": 2000, "train_batch_size": 1000}, "must not exceed"),
    ({"lr": math.nan}, "lr"),
    ({"gamma": 1.5}, "gamma"),
    ({"hidden": ()}, "hidden"),
    ({"hidden": (64, 0)}, "hidden"),
    ({"num_epochs": 2.0}, "num_epochs"),
    ({"seed": True}, "seed"),
])
def test_bad_ppo_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        RllibPPOOptions(**options)


def test_nothing_imports_ray_until_rllib_is_used():
    code = ("import sys, reled_sumo.cli.app, reled_sumo.integrations.rllib, reled_sumo.integrations.multiagent; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def no_ray(monkeypatch):
    from reled_sumo.integrations import rllib

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the package
    rllib._env_class.cache_clear()
    yield
    rllib._env_class.cache_clear()


def test_without_rllib_the_error_names_the_extra(no_ray, sample_dir):
    from reled_sumo.integrations import rllib

    with pytest.raises(ConfigError, match=r"needs RLlib, which is not installed: pip install -e \"\.\[rllib\]\""):
        rllib.build_ppo_config(sample_dir, agents=3)
    with pytest.raises(ConfigError, match="not installed"):
        rllib.RllibRoutingEnv  # noqa: B018


# ------------------------------------------------------------------------------ with RLlib
def test_rllib_episode_ends_when_the_env_does(sample_dir):
    """RLlib's own MultiAgentEpisode, fed the adapter's steps, ends with the env's __all__ (not
    when the first agent arrives) and holds each decision as one agent step."""
    _rllib_or_skip()
    from ray.rllib.env.multi_agent_env import MultiAgentEnv
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

    from reled_sumo.integrations.rllib import RllibRoutingEnv

    env = RllibRoutingEnv({"scenario": str(sample_dir), "env_options": SPARSE})
    assert isinstance(env, MultiAgentEnv)
    steps, returns = _play(env)
    env.close()
    ep = MultiAgentEpisode(observation_space=env.observation_spaces, action_space=env.action_spaces)
    ep.add_env_reset(observations=steps[0][0], infos=steps[0][4])
    for k, (obs, rew, term, trunc, infos, actions) in enumerate(steps[1:], start=1):
        assert not ep.is_done, f"RLlib ended the episode at step {k - 1} of {len(steps) - 1}"
        ep.add_env_step(observations=obs, actions=actions, rewards=rew, infos=infos, terminateds=term,
                        truncateds=trunc)
    assert ep.is_done
    n_actions = {a: sum(a in s[5] for s in steps) for a in env.possible_agents}
    assert {a: len(e) for a, e in ep.agent_episodes.items()} == n_actions


def test_the_shared_module_masks_invalid_actions(sample_dir):
    """The RLModule build_ppo_config configures gives masked-out slots no probability."""
    _rllib_or_skip()
    import torch

    from reled_sumo.integrations.rllib import SHARED, build_ppo_config

    cfg = build_ppo_config(sample_dir, agents=3)
    module = cfg.rl_module_spec.rl_module_specs[SHARED].build()
    obs_space = module.observation_space
    rng = np.random.default_rng(0)
    n, k = 256, obs_space[MASK_KEY].shape[0]
    mask = (rng.random((n, k)) < 0.5).astype(np.float32)
    mask[np.arange(n), rng.integers(0, k, n)] = 1.0  # at least one valid slot, as for every decider
    obs = rng.uniform(0, 1, (n, obs_space[OBS_KEY].shape[0])).astype(np.float32)
    out = module.forward_exploration({"obs": {OBS_KEY: torch.from_numpy(obs), MASK_KEY: torch.from_numpy(mask)}})
    dist = module.get_exploration_action_dist_cls().from_logits(out["action_dist_inputs"])
    actions = dist.sample().numpy()
    assert mask[np.arange(n), actions].all()
    probs = torch.softmax(out["action_dist_inputs"], dim=-1).detach().numpy()
    assert probs[mask == 0].max() < 1e-6 and np.allclose(probs.sum(axis=1), 1.0)


@pytest.mark.slow
def test_one_ppo_iteration_on_local_ray(kotka_small):
    """One `algo.train()` of RLlib PPO (new API stack, shared policy) on a real local Ray."""
    _rllib_or_skip()
    import ray
    import torch

    from reled_sumo.integrations.rllib import SHARED, build_ppo_config

    torch.set_num_threads(1)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = build_ppo_config(kotka_small.path, agents=5, env_options={"horizon": 300.0}, num_env_runners=1,
                               train_batch_size=128, minibatch_size=64, num_epochs=2)
        algo = cfg.build_algo()
        result = algo.train()
        algo.stop()
    finally:
        ray.shutdown()
    assert result["env_runners"]["num_env_steps_sampled"] >= 128
    losses = result["learners"][SHARED]
    for name in ("policy_loss", "vf_loss", "total_loss", "entropy"):
        assert math.isfinite(float(losses[name])), (name, losses[name])
    assert float(losses["entropy"]) > 0


@pytest.mark.slow
def test_the_example_trains_and_reports_its_iterations(kotka_small):
    """examples/rllib_ppo_kotka.py end to end (its own local Ray, in a subprocess), as documented."""
    _rllib_or_skip()
    import json
    import os

    root = Path(__file__).parents[2]
    cmd = [sys.executable, str(root / "examples" / "rllib_ppo_kotka.py"), "--scenario", str(kotka_small.path),
           "--agents", "5", "--horizon", "300", "--iterations", "2", "--batch", "128", "--minibatch", "64",
           "--epochs", "1", "--reference", "--json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    ref, iters, total = rows[0], [r for r in rows if "iteration" in r], rows[-1]
    assert ref["reference_env_steps"] >= 128 and ref["reference_env_steps_per_s"] > 0
    assert [r["iteration"] for r in iters] == [1, 2]
    assert all(r["env_steps"] >= 128 and r["agent_steps"] >= r["env_steps"] and r["wall_s"] > 0 for r in iters)
    assert all(math.isfinite(r["policy_loss"]) and math.isfinite(r["vf_loss"]) for r in iters)
    assert total["iterations"] == 2 and total["iteration_vs_reference"] > 0
