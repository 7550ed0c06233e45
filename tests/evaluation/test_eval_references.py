"""The six references on the small bundled Kotka scenario: same agents, seeds and metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.evaluation.references import evaluate_reference
from reled_sumo.metrics.results import METRICS
from reled_sumo.evaluation.references import REFERENCES, ReferenceConfig, parse_references

SEEDS = (10_000, 10_001)


@pytest.fixture(scope="module")
def refs(kotka_small):
    cfg = ReferenceConfig(due_iterations=2, eq_iterations=3)
    return {name: evaluate_reference(name, kotka_small, SEEDS, config=cfg) for name in REFERENCES}


def test_every_reference_reports_the_same_agents_and_seeds(refs, kotka_small):
    for name, r in refs.items():
        assert r.method == name and r.scenario_hash == kotka_small.scenario_hash
        assert r.seeds == SEEDS
        assert all(s.n_agents == 20 for s in r.per_seed)
        assert set(r.summary()) == set(METRICS)


@pytest.mark.parametrize("name", ["shortest", "live", "routing", "agents-eq"])
def test_shortest_and_routing_arrive_within_the_horizon(refs, name):
    for s in refs[name].per_seed:
        assert s.arrival_rate == 1.0 and s.unfinished == 0 and s.not_departed == 0 and s.teleports == 0
        assert 30 < s.mean_travel_time <= s.p95_travel_time < 600
        assert len(s.travel_times) == 20 and s.censored_travel_time == pytest.approx(s.mean_travel_time)
        assert s.mean_waiting_time >= 0


@pytest.mark.parametrize("name", ["sumo-rerouting", "due"])
def test_plain_sumo_references(refs, name):
    r = refs[name]
    for s in r.per_seed:
        assert s.arrival_rate >= 0.95
        assert 30 < s.mean_travel_time < 600
        # all arrived: the travel_time reward's return is -travel_time / 60 + 1 per agent
        if s.arrival_rate == 1.0:
            expected = float(np.mean(-np.asarray(s.travel_times) / 60.0 + 1.0))
            assert s.mean_return == pytest.approx(expected)
    assert r.meta["kind"] == "reference"
    if name == "due":
        assert r.meta["due_iterations"] == 2


def test_random_is_worse_than_shortest(refs):
    assert refs["random"].estimate("arrival_rate").mean < refs["shortest"].estimate("arrival_rate").mean
    assert refs["random"].estimate("mean_return").mean < refs["shortest"].estimate("mean_return").mean


def test_random_is_reproducible(refs, kotka_small):
    again = evaluate_reference("random", kotka_small, SEEDS[:1])
    assert again.per_seed[0] == refs["random"].per_seed[0]


def test_max_agents_limits_every_reference(kotka_small):
    opts = {"max_agents": 5}
    for name in ("shortest", "sumo-rerouting"):
        r = evaluate_reference(name, kotka_small, 1, env_options=opts)
        assert r.per_seed[0].n_agents == 5 and r.meta["env"]["max_agents"] == 5


def test_reference_names():
    assert parse_references(" Random, shortest ,random,") == ("random", "shortest")
    assert parse_references(None) == ()
    with pytest.raises(ConfigError, match="unknown reference"):
        parse_references("random,ppo")
    with pytest.raises(ConfigError):
        ReferenceConfig(due_iterations=0)


def test_nan_free_summary_for_shortest(refs):
    s = refs["shortest"].summary()
    assert all(math.isfinite(e.mean) and e.defined for e in s.values())


def test_agents_equilibrium_is_cached_per_agent_set_and_no_worse_on_its_own_seeds(kotka_small):
    """The iteration keeps the best plan it measured, so on its measuring seeds it is at most
    the free-flow shortest plan it starts from; the cache key includes the controlled agents."""
    from reled_sumo.env import make_env
    from reled_sumo.experts.equilibrium import _measure, agents_equilibrium, cache_path
    from reled_sumo.experts.base import agent_trips

    env = make_env(kotka_small, max_agents=8)
    try:
        graph = env.scenario.graph
        eq = agents_equilibrium(env, iterations=2, seeds=1)
        assert cache_path(env, 2, 1).is_file()
        assert agents_equilibrium(env, iterations=2, seeds=1) == eq  # from the cache
        shortest = {t.agent_id: graph.shortest_path(t.origin, t.destination) for t in agent_trips(env)}
        assert _measure(env, graph, eq, 1, 0)[0] <= _measure(env, graph, shortest, 1, 0)[0] + 1e-9
        assert all(graph.is_valid_route(r) for r in eq.values())
    finally:
        env.close()
    other = make_env(kotka_small, max_agents=9)
    try:
        assert cache_path(other, 2, 1) != cache_path(env, 2, 1)
    finally:
        other.close()
