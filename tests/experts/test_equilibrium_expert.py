"""The agents-only equilibrium as a teacher: it demonstrates the `agents-eq` reference's routes,
revises with best responses on the times SED measured, and plugs into SED and training."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.env import make_env
from reled_sumo.errors import ConfigError, ExpertError
from reled_sumo.experts.base import AgentFeedback, AgentTrip, agent_trips
from reled_sumo.experts.equilibrium import EquilibriumConfig, EquilibriumExpert, agents_equilibrium
from reled_sumo.experts.factory import ExpertOptions, make_expert
from reled_sumo.experts.sed import SEDConfig, refine

runner = CliRunner()


@pytest.fixture(scope="module")
def env(kotka_small):
    e = make_env(kotka_small, seed=0, max_agents=8, backend="traci")  # the train test below needs libsumo
    yield e
    e.close()


def test_the_teacher_answers_with_the_reference_equilibrium(env):
    graph = env.scenario.graph
    eq = agents_equilibrium(env, iterations=2, seeds=1)
    expert = make_expert(ExpertOptions(kind="agents-eq", eq_iterations=2, eq_seeds=1), env=env)
    plan = expert.plan(graph, agent_trips(env), None, {})
    assert {a: list(r.edges) for a, r in plan.items()} == eq
    assert {r.source for r in plan.values()} == {"equilibrium"}


def test_a_revision_is_the_best_response_on_the_measured_times(env):
    """SED's revision: an edge of the equilibrium route made very slow is avoided where a detour exists."""
    graph = env.scenario.graph
    expert = EquilibriumExpert(env, EquilibriumConfig(iterations=2, seeds=1))
    trips = agent_trips(env)
    eq = expert.routes()
    moved = 0
    for t in trips:
        inner = eq[t.agent_id][1:-1]
        if not inner:
            continue
        slow = np.array(graph.freeflow_time, dtype=np.float64)
        slow[inner[0]] = 1e6
        fb = {t.agent_id: AgentFeedback(agent_id=t.agent_id)}
        new = list(expert.plan(graph, [t], slow, fb)[t.agent_id].edges)
        assert new == graph.shortest_path(t.origin, t.destination, slow)
        moved += inner[0] not in new
    assert moved > 0  # at least one trip had a detour, so the revision did answer the measured times


def test_the_teacher_refuses_agents_it_did_not_route(env):
    expert = EquilibriumExpert(env, EquilibriumConfig(iterations=2, seeds=1))
    t = agent_trips(env)[0]
    stranger = AgentTrip("not-an-agent", t.origin, t.destination, t.depart)
    with pytest.raises(ExpertError, match="not-an-agent"):
        expert.plan(env.scenario.graph, [stranger], None, {})


@pytest.mark.parametrize("opts", [dict(eq_iterations=0), dict(eq_seeds=0), dict(eq_iterations=-3)])
def test_bad_equilibrium_options_are_refused(opts):
    with pytest.raises(ConfigError):
        ExpertOptions(kind="agents-eq", **opts)


def test_the_teacher_needs_an_env():
    with pytest.raises(ConfigError, match="env"):
        make_expert(ExpertOptions(kind="agents-eq"))


def test_sed_with_the_equilibrium_teacher_starts_at_the_equilibrium(env):
    """Round 0 of SED executes the equilibrium, so its demonstrations follow those routes."""
    graph = env.scenario.graph
    expert = EquilibriumExpert(env, EquilibriumConfig(iterations=2, seeds=1))
    demos, rounds = refine(env, expert, SEDConfig(rounds=2, seeds=1))
    assert len(rounds) == 2
    eq = expert.routes()
    kept_eq = sum([graph.index[e] for e in tr.edges] == eq[a] for a, tr in demos.trajectories.items())
    assert kept_eq >= len(eq) - rounds[1].accepted
    assert set(demos.meta["written_by"]) == {"equilibrium"}


def test_train_with_the_equilibrium_teacher(kotka_small, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--scenario", str(kotka_small.path), "--algo", "reled", "--agents", "6",
                              "--updates", "2", "--seed", "0", "--expert", "agents-eq", "--out", str(out)])
    assert res.exit_code == 0, res.output
    demos = DemoSet.load(out / "demos")
    assert demos.meta["expert"] == "agents-eq"
    assert demos.meta["written_by"] == {"equilibrium": 6}


def test_recorded_live_routes_replay_the_live_episode(env):
    """The routes the live prior drove, replayed by the route follower on the same seed, give the
    same episode: no deviation, the same travel time for every agent."""
    from reled_sumo.env.acting import batch_policy, with_zero_stats
    from reled_sumo.env.episode import run_episode
    from reled_sumo.env.policies import get_policy
    from reled_sumo.experts.execute import execute_routes, record_routes

    graph = env.scenario.graph
    live = with_zero_stats(batch_policy(get_policy("live")))
    routes = record_routes(env, live, seed=3)
    trips = {t.agent_id: t for t in agent_trips(env)}
    for a, r in routes.items():
        assert r[0] == trips[a].origin and r[-1] == trips[a].destination and graph.is_valid_route(r)
        assert len(set(r)) == len(r)
    played = run_episode(env, live, seed=3)
    replay = execute_routes(env, graph, routes, seed=3)
    assert replay.deviations == 0
    np.testing.assert_array_equal(replay.stats.travel_time, played.travel_time)


def test_stitching_erases_loops_and_fills_forced_edges(kotka_small):
    from reled_sumo.experts.execute import stitch_route

    graph = kotka_small.graph
    long = next(p for d in range(graph.num_edges) if (p := graph.shortest_path(0, d)) and len(p) >= 4)
    o, d = long[0], long[-1]
    # decisions only at the second and last-but-one edges: the rest is filled in
    assert stitch_route(graph, o, d, [(long[1], long[2])]) == long
    # a detour that comes back to an edge already driven is cut out
    back = graph.shortest_path(long[2], long[1])
    assert back is not None and len(back) > 2
    looped = stitch_route(graph, o, d, [(long[1], long[2]), (back[-2], long[1]), (long[1], long[2])])
    assert looped == long


def test_the_live_start_equilibrium_is_no_worse_than_the_prior_routes_on_its_seeds(env):
    from reled_sumo.env.acting import batch_policy, with_zero_stats
    from reled_sumo.env.policies import get_policy
    from reled_sumo.experts.equilibrium import _measure, cache_path
    from reled_sumo.experts.execute import record_routes

    graph = env.scenario.graph
    eq = agents_equilibrium(env, iterations=2, seeds=1, start="live")
    assert cache_path(env, 2, 1, "live") != cache_path(env, 2, 1)
    start = record_routes(env, with_zero_stats(batch_policy(get_policy("live"))), 0)
    assert _measure(env, graph, eq, 1, 0)[0] <= _measure(env, graph, start, 1, 0)[0] + 1e-9
    with pytest.raises(ConfigError, match="start"):
        agents_equilibrium(env, iterations=2, seeds=1, start="magic")


def test_the_bundled_teacher_eq_config_is_default_but_the_teacher_and_the_embedding():
    from dataclasses import asdict

    from reled_sumo.data import config_path
    from reled_sumo.training.config import load_config

    default, eq = asdict(load_config(config_path("default"))), asdict(load_config(config_path("teacher_eq")))

    def flat(d, pre=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{pre}{k}.") if isinstance(v, dict) else {f"{pre}{k}": v})
        return out

    a, b = flat(default), flat(eq)
    assert {k for k in a if a[k] != b[k]} == {"expert.kind", "expert.eq_iterations",
                                               "hpo.agent_embedding_dim"}
    assert b["expert.kind"] == "agents-eq" and b["hpo.agent_embedding_dim"] == 8
