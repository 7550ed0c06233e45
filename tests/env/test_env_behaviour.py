"""Routing env behaviour: decisions, masks, rewards, seeding, backends, recovery."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from reled_sumo import make_env
from reled_sumo.env import EnvConfig, RoutingParallelEnv, get_policy, load_scenario
from reled_sumo.env.observation import C_VALID, N_CAND, N_OWN, OWN_NAMES, CAND_NAMES
from reled_sumo.errors import ConfigError, SimulationDiedError

INFO_KEYS = {"needs_decision", "action_mask", "edge", "position", "travel_time", "route_length",
             "waiting_time", "n_decisions", "n_invalid_actions", "time"}


def run_episode(env: RoutingParallelEnv, policy, seed=0, on_step=None, max_steps=100_000):
    """Play one episode; return per-agent totals and final infos, and the trajectory."""
    obs, infos = env.reset(seed=seed)
    policy.reset(seed) if hasattr(policy, "reset") else None
    ret = {a: 0.0 for a in env.possible_agents}
    final, traj = {}, []
    for _ in range(max_steps):
        if not env.agents:
            break
        actions = policy(obs, infos)
        if on_step:
            on_step(env, obs, infos, actions)
        traj.append(({a: obs[a].tobytes() for a in sorted(obs)}, sorted(actions.items())))
        obs, rew, term, trunc, infos = env.step(actions)
        traj.append(sorted(rew.items()))
        for a, r in rew.items():
            ret[a] += r
        for a in term:
            if term[a] or trunc[a]:
                final[a] = (term[a], trunc[a], infos[a])
    return ret, final, traj


@pytest.fixture()
def env(sample_dir):
    e = make_env(sample_dir)
    yield e
    e.close()


def test_shortest_policy_reaches_every_destination(env):
    seen = {"deciding": 0, "idle": 0}

    def check(env, obs, infos, actions):
        space = env.observation_space(env.possible_agents[0])
        for a in env.agents:
            assert a in obs and a in infos
            assert space.contains(obs[a])
            assert INFO_KEYS <= set(infos[a])
            seen["deciding" if infos[a]["needs_decision"] else "idle"] += 1
        assert set(actions) == {a for a in env.agents if infos[a]["needs_decision"]}

    ret, final, _ = run_episode(env, get_policy("shortest"), seed=0, on_step=check)
    assert set(final) == set(env.possible_agents)
    assert all(term and not trunc for term, trunc, _ in final.values())  # arrival rate 1.0
    assert env.sim_time < env.horizon
    assert seen["deciding"] > 200 and seen["idle"] > 0
    cfg = env.config
    for a, (_, _, info) in final.items():
        assert info["arrived"] and info["done_reason"] == "arrived"
        assert info["travel_time"] > 0 and info["route_length"] > 0 and info["n_decisions"] >= 1
        assert info["n_invalid_actions"] == 0
        # rewards accrue and sum to -travel_time / scale + arrival bonus
        assert ret[a] == pytest.approx(-info["travel_time"] / cfg.reward_scale + cfg.arrival_bonus)


def test_travel_time_and_route_length_match_sumo(sample_dir, tmp_path):
    import xml.etree.ElementTree as ET

    out = tmp_path / "tripinfo.xml"
    env = make_env(sample_dir, sumo_args=("--tripinfo-output", str(out)))
    try:
        _, final, _ = run_episode(env, get_policy("shortest"), seed=2)
    finally:
        env.close()
    trips = {e.get("id"): e for e in ET.parse(out).getroot()}
    for a, (_, _, info) in final.items():
        assert info["travel_time"] == pytest.approx(float(trips[a].get("duration")))
        assert info["waiting_time"] == pytest.approx(float(trips[a].get("waitingTime")))
        assert info["route_length"] == pytest.approx(float(trips[a].get("routeLength")), rel=0.02)


def test_masks_are_the_reachable_real_successors(env):
    t = env.tables

    def check(env, obs, infos, actions):
        for a in env.agents:
            info = infos[a]
            if not info["needs_decision"]:
                continue
            e = t.index[info["edge"]]
            row = t.dest_row[env.scenario.agents[env.possible_agents.index(a)].destination]
            real = t.succ[e] >= 0
            reach = np.isfinite(t.VT[row][np.where(real, t.succ[e], 0)])
            expected = (real & reach).astype(np.int8)
            assert np.array_equal(info["action_mask"], expected)
            assert info["action_mask"].dtype == np.int8 and info["action_mask"].sum() >= 2
            assert set(np.flatnonzero(info["action_mask"])) <= set(np.flatnonzero(real))
            # the valid flags in the observation are the mask
            o = obs[a]
            assert np.array_equal(o[N_OWN + C_VALID :: N_CAND][: t.K] == 1.0, expected == 1)

    run_episode(env, get_policy("random", seed=1), seed=1, on_step=check)


def test_random_and_invalid_actions_never_reach_sumo(env):
    """Raw random actions (often invalid) are mapped to a valid candidate; SUMO only sees valid routes."""
    g = env.tables.graph
    sent = []
    rng = np.random.default_rng(0)

    def random_raw(obs, infos):
        return {a: int(rng.integers(0, env.K)) for a in obs if infos[a]["needs_decision"]}

    ret_holder = {}

    def check(env, obs, infos, actions):
        sess = env.session
        if not getattr(sess, "_wrapped", False):
            orig = sess.set_route

            def set_route(v, edges):
                sent.append((v, tuple(edges)))
                return orig(v, edges)

            sess.set_route = set_route
            sess._wrapped = True

    ret, final, _ = run_episode(env, random_raw, seed=4, on_step=check)
    assert sent
    for v, edges in sent:
        idx = [g.index[e] for e in edges]
        assert g.is_valid_route(idx), (v, edges)
    n_invalid = sum(info["n_invalid_actions"] for _, _, info in final.values())
    assert n_invalid > 0
    cfg = env.config
    for a, (term, _, info) in final.items():
        expected = -info["travel_time"] / cfg.reward_scale - cfg.invalid_action_penalty * info["n_invalid_actions"]
        if term:
            expected += cfg.arrival_bonus
        assert ret[a] == pytest.approx(expected)


def test_same_seed_same_episode_different_seed_differs(sample_dir):
    env = make_env(sample_dir, horizon=600)
    try:
        pol = get_policy("random", seed=0)
        _, _, t1 = run_episode(env, pol, seed=11)
        _, _, t2 = run_episode(env, pol, seed=11)
        _, _, t3 = run_episode(env, pol, seed=12)
        assert t1 == t2
        assert t1 != t3
        # reset() without a seed draws the next SUMO seed deterministically from the last seed
        env.reset(seed=11)
        env.reset()
        s1 = env.episode_seed
        env.reset(seed=11)
        env.reset()
        assert env.episode_seed == s1 != 11
    finally:
        env.close()


def test_traci_and_libsumo_give_the_same_trajectories(sample_dir):
    trajs = []
    for backend in ("libsumo", "traci"):
        env = make_env(sample_dir, backend=backend, horizon=900)
        try:
            trajs.append(run_episode(env, get_policy("shortest"), seed=5))
        finally:
            env.close()
    (r1, f1, t1), (r2, f2, t2) = trajs
    assert t1 == t2 and r1 == r2
    assert {a: (v[0], v[1], {k: x for k, x in v[2].items() if k != "action_mask"}) for a, v in f1.items()} == \
           {a: (v[0], v[1], {k: x for k, x in v[2].items() if k != "action_mask"}) for a, v in f2.items()}


def test_edge_exit_prediction_matches_polling_every_step(sample_dir):
    out = []
    for every in (False, True):
        env = make_env(sample_dir, horizon=600)
        env.poll_every_step = every
        try:
            out.append(run_episode(env, get_policy("random", seed=3), seed=3)[2])
        finally:
            env.close()
    assert out[0] == out[1]


def test_killed_sumo_raises_and_reset_recovers(sample_dir):
    env = make_env(sample_dir, backend="traci")
    try:
        obs, infos = env.reset(seed=0)
        pol = get_policy("shortest")
        for _ in range(5):
            obs, _, _, _, infos = env.step(pol(obs, infos))
        os.kill(env.session.pid, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(SimulationDiedError):
            for _ in range(50):
                obs, _, _, _, infos = env.step(pol(obs, infos))
        obs, infos = env.reset(seed=0)
        assert env.agents
        _, final, _ = run_episode(env, pol, seed=0)
        assert len(final) == 30 and all(v[0] for v in final.values())
    finally:
        env.close()


def test_horizon_truncates(sample_dir):
    env = make_env(sample_dir, horizon=120)
    try:
        ret, final, _ = run_episode(env, get_policy("shortest"), seed=0)
    finally:
        env.close()
    truncated = [a for a, v in final.items() if v[1]]
    assert truncated and all(final[a][2]["done_reason"] == "horizon" for a in truncated)
    assert all(final[a][2]["time"] == pytest.approx(120.0) for a in truncated)
    # agents that never departed are not reported
    assert len(final) < 30


def test_decision_options(sample_dir):
    counts = {}
    for name, opts in {"base": {}, "lookahead2": {"decision_lookahead": 2},
                       "delay": {"decision_delay_s": 5.0}}.items():
        env = make_env(sample_dir, **opts)
        steps = 0
        try:
            ret, final, traj = run_episode(env, get_policy("shortest"), seed=0)
        finally:
            env.close()
        assert len(final) == 30 and all(v[0] for v in final.values())
        counts[name] = (sum(v[2]["n_decisions"] for v in final.values()), len(traj) // 2)
    assert counts["lookahead2"][0] < counts["base"][0]
    assert counts["delay"][0] == counts["base"][0] and counts["delay"][1] < counts["base"][1]


def test_max_agents_and_time_loss_reward(sample_dir):
    env = make_env(sample_dir, max_agents=5, reward="time_loss")
    try:
        assert env.possible_agents == [f"agent_{i}" for i in range(5)]
        ret, final, _ = run_episode(env, get_policy("shortest"), seed=0)
    finally:
        env.close()
    assert set(final) == set(env.possible_agents)
    for a, (_, _, info) in final.items():  # time lost against free flow: small, and below the travel time
        assert -info["travel_time"] / 60 + 1 <= ret[a] <= 1.0 + 1e-9


def test_make_env_inputs_and_config_errors(sample_dir, sample_scenario):
    for s in (sample_dir, str(sample_dir), sample_scenario):
        env = make_env(s, seed=3)
        assert env.scenario.name == "kotka" and env.config.seed == 3
        env.close()
    assert load_scenario(sample_scenario) is sample_scenario
    with pytest.raises(ConfigError, match="unknown environment option"):
        make_env(sample_dir, nonsense=1)
    with pytest.raises(ConfigError, match="unknown reward"):
        make_env(sample_dir, reward="nope")
    with pytest.raises(ConfigError):
        make_env(sample_dir, horizon=-5)
    with pytest.raises(ConfigError):
        make_env(sample_dir, obs_norm={"bogus": 1.0})
    cfg = EnvConfig.from_options(gui=True, obs_norm={"time_s": 100.0})
    assert cfg.render_mode == "human" and cfg.obs_norm.time_s == 100.0
    env = make_env(sample_dir, config=cfg, render_mode=None)
    assert env.config.obs_norm.time_s == 100.0 and env.render_mode is None
    env.close()
    assert len(OWN_NAMES) == N_OWN and len(CAND_NAMES) == N_CAND


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display")
def test_gui_human_render_mode(sample_dir):
    env = make_env(sample_dir, render_mode="human", gui_delay_ms=0, horizon=60)
    try:
        obs, infos = env.reset(seed=0)
        assert env.session.backend == "traci" and env.session.pid
        pol = get_policy("shortest")
        while env.agents:
            obs, _, _, _, infos = env.step(pol(obs, infos))
            env.render()
    finally:
        env.close()


def test_teleport_and_removal_terminate(sample_dir):
    """Nothing controls a teleported / removed agent any more: its trajectory terminates
    (no bootstrap); only the horizon truncates."""
    # a 3 s jam threshold makes SUMO teleport agents that wait at junctions
    env = make_env(sample_dir, sumo_args=("--time-to-teleport", "3"), horizon=900)
    removed = {}

    def remove_one(env, obs, infos, actions):
        if not removed and env.sim_time > 30:
            victim = next(a for a in env.agents if not infos[a]["needs_decision"])
            env.session.api.vehicle.remove(victim)
            removed["id"] = victim

    try:
        ret, final, _ = run_episode(env, get_policy("shortest"), seed=0, on_step=remove_one)
    finally:
        env.close()
    reasons = {a: v[2]["done_reason"] for a, v in final.items()}
    term, trunc, info = final[removed["id"]]
    assert reasons[removed["id"]] == "removed" and term and not trunc and not info["arrived"]
    tele = [a for a, r in reasons.items() if r == "teleported"]
    assert tele
    cfg = env.config
    for a in tele:
        term, trunc, info = final[a]
        assert term and not trunc and not info["arrived"]
        assert ret[a] == pytest.approx(-info["travel_time"] / cfg.reward_scale - cfg.teleport_penalty)


def test_edge_travel_times(sample_dir):
    env = make_env(sample_dir, horizon=300)
    try:
        g = env.tables.graph
        assert np.isnan(env.edge_travel_times()).all()
        obs, infos = env.reset(seed=0)
        tt = env.edge_travel_times()
        assert tt.shape == (g.num_edges,) and np.isfinite(tt).all()
        # at the start nearly every edge is empty: SUMO reports free flow there
        assert np.mean(np.isclose(tt, g.freeflow_time, rtol=1e-3)) > 0.9
        pol = get_policy("shortest")
        for _ in range(50):
            obs, _, _, _, infos = env.step(pol(obs, infos))
        tt2 = env.edge_travel_times()
        assert tt2 is not env.edge_travel_times() and np.array_equal(tt2, env.edge_travel_times())
    finally:
        env.close()
    assert np.isnan(env.edge_travel_times()).all()


def test_horizon_truncation_gives_a_fresh_final_observation(sample_dir):
    """The observation returned with a horizon truncation describes the agent at the horizon
    (V(final obs) bootstraps it), not at its last decision."""
    from reled_sumo.env.observation import OWN_ELAPSED

    env = make_env(sample_dir, horizon=150)
    pol = get_policy("shortest")
    last_decision_obs, finals = {}, {}
    try:
        obs, infos = env.reset(seed=2)
        while env.agents:
            acts = pol(obs, infos)
            for a in acts:
                last_decision_obs[a] = obs[a].copy()
            obs, _, terms, truncs, infos = env.step(acts)
            for a, tr in truncs.items():
                if tr and infos[a]["done_reason"] == "horizon":
                    finals[a] = (obs[a], infos[a])
    finally:
        env.close()
    assert len(finals) >= 3
    time_s = env.config.obs_norm.time_s
    for a, (o, info) in finals.items():
        assert o[OWN_ELAPSED] == pytest.approx(info["travel_time"] / time_s, abs=1e-4)
        if a in last_decision_obs and last_decision_obs[a][OWN_ELAPSED] < o[OWN_ELAPSED]:
            assert not np.array_equal(o, last_decision_obs[a])
