"""Non-learning references, evaluated like a trained policy (same agents, horizon, seeds, metrics).

* ``random``: uniform over valid actions at every decision (env policy, seeded per episode).
* ``shortest``: static free-flow shortest path (env policy).
* ``live``: dynamic shortest path on the live edge times at every decision (env policy): the
  greedy policy of the learners' shortest-path prior before any learning.
* ``routing``: the routing expert's congestion-aware routes (planned once on free-flow
  times), executed in the env with :func:`~reled_sumo.experts.execute.execute_routes`.
* ``sumo-rerouting``: plain SUMO; only the agents carry SUMO's rerouting device and
  re-plan every ``rerouting_period`` s on measured edge speeds.
* ``agents-eq``: the agents-only equilibrium (:mod:`reled_sumo.experts.equilibrium`): the
  background keeps its routes, the controlled agents iterate to a best response on measured
  edge times; cached per scenario, agent set and horizon. The bound for agents-only control.
* ``due``: **system-wide** dynamic user equilibrium: plain SUMO on the routes of
  ``duaIterate.py`` (``due_iterations`` iterations over all agent + background trips, cached
  per scenario): every vehicle is re-routed, so it is a different traffic system, not a bound
  for controlling the agents alone.

The plain-SUMO references report the same per-agent quantities (see
:mod:`reled_sumo.sim.reference_runs`); their ``mean_return`` is the env's
``travel_time`` reward recomputed from travel time, arrival and teleport (NaN for
other rewards, which need the env's internal state).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env import EnvConfig, get_policy, load_scenario
from reled_sumo.env.acting import batch_policy, with_zero_stats
from reled_sumo.env.config import select_agents
from reled_sumo.env.episode import run_episode
from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import agent_trips
from reled_sumo.experts.equilibrium import EquilibriumConfig, agents_equilibrium
from reled_sumo.experts.execute import execute_routes
from reled_sumo.experts.routing import RoutingConfig, RoutingExpert
from reled_sumo.metrics.episodes import clean_env_options, run_env_episodes
from reled_sumo.metrics.results import EpisodeOutcome, EvalResult, SeedMetrics, eval_seeds
from reled_sumo.sim import reference_runs as rr

log = logging.getLogger(__name__)

REFERENCES = ("random", "shortest", "live", "routing", "agents-eq", "sumo-rerouting", "due")
ENV_REFERENCES = ("random", "shortest", "live", "routing", "agents-eq")


@dataclass(frozen=True)
class ReferenceConfig:
    due_iterations: int = 5
    eq_iterations: int = 6
    eq_seeds: int = 2
    rerouting_period: float = 30.0
    use_cache: bool = True
    routing: RoutingConfig = field(default_factory=RoutingConfig)

    def __post_init__(self) -> None:
        if not (isinstance(self.due_iterations, int) and self.due_iterations >= 1):
            raise ConfigError(f"due_iterations must be an integer >= 1, got {self.due_iterations!r}")
        EquilibriumConfig(self.eq_iterations, self.eq_seeds, self.use_cache)  # validates them
        if not self.rerouting_period > 0:
            raise ConfigError(f"rerouting_period must be > 0 s, got {self.rerouting_period}")


def parse_references(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"random,shortest"`` -> ("random", "shortest"); raises ConfigError for unknown names."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(s.strip().lower() for s in items if s and s.strip()))
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise ConfigError(f"unknown reference(s): {', '.join(unknown)}; choose from {', '.join(REFERENCES)}")
    return names


def run_reference(name: str, scenario: ScenarioLike, seeds: Sequence[int], env_options: Mapping[str, Any] | None = None,
                  config: ReferenceConfig | None = None) -> EvalResult:
    """Evaluate reference ``name`` once per seed."""
    names = parse_references([name])
    if len(names) != 1:
        raise ConfigError(f"expected one reference name, got {name!r}")
    name = names[0]
    cfg = config or ReferenceConfig()
    meta = {"kind": "reference"}
    if name in ENV_REFERENCES:
        return run_env_episodes(scenario, seeds, env_options, _ENV_EPISODES[name](scenario, env_options, cfg),
                                name, meta)
    return _plain_reference(name, scenario, seeds, env_options, cfg)


# ------------------------------------------------------------- env references
def policy_episode(policy_name: str) -> Callable[..., Callable[[Any, int], None]]:
    """An episode function playing an env reference policy (``random`` / ``shortest`` / ``live``)."""

    def factory(scenario, env_options, cfg):
        def episode(env, seed: int):
            policy = get_policy(policy_name, seed=seed) if policy_name == "random" else get_policy(policy_name)
            return run_episode(env, with_zero_stats(batch_policy(policy)), seed=seed)

        return episode

    return factory


def routing_episode(scenario, env_options, cfg: ReferenceConfig):
    """An episode function that executes the routing expert's routes (planned once, lazily)."""

    routes: dict[str, list[int]] = {}

    def episode(env, seed: int):
        graph = env.scenario.graph
        if not routes:
            plan = RoutingExpert(cfg.routing).plan(graph, agent_trips(env), None, {})
            routes.update({a: list(r.edges) for a, r in plan.items()})
        res = execute_routes(env, graph, routes, seed)
        if res.deviations:
            log.info("routing reference seed %d: %d deviation(s) from the planned routes", seed, res.deviations)
        return res.stats

    return episode


def equilibrium_episode(scenario, env_options, cfg: ReferenceConfig):
    """An episode function that executes the agents-only equilibrium routes (computed once, cached)."""

    routes: dict[str, list[int]] = {}

    def episode(env, seed: int):
        if not routes:
            routes.update(agents_equilibrium(env, cfg.eq_iterations, cfg.eq_seeds, use_cache=cfg.use_cache))
        return execute_routes(env, env.scenario.graph, routes, seed).stats

    return episode


_ENV_EPISODES = {"random": policy_episode("random"), "shortest": policy_episode("shortest"),
                 "live": policy_episode("live"), "routing": routing_episode, "agents-eq": equilibrium_episode}


# ----------------------------------------------------------- plain references
def _plain_reference(name: str, scenario: ScenarioLike, seeds: Sequence[int], env_options, cfg: ReferenceConfig) -> EvalResult:
    sc = load_scenario(scenario)
    env_cfg = EnvConfig.from_options(**clean_env_options(env_options))
    agent_ids = [a.id for a in select_agents(sc.agents, env_cfg)]
    horizon = env_cfg.horizon if env_cfg.horizon is not None else sc.duration
    extra = _extra_args(env_cfg)
    meta: dict[str, Any] = {"kind": "reference", "scenario_path": str(sc.path), "n_agents": len(agent_ids),
                            "env": clean_env_options(env_options)}
    if name == "due":
        routes = rr.dua_routes(sc, cfg.due_iterations, horizon, use_cache=cfg.use_cache)
        meta.update(due_iterations=cfg.due_iterations, due_routes=str(routes))

        def run(seed: int):
            return rr.run_routes(sc, routes, agent_ids, seed, horizon, extra)
    else:
        meta["rerouting_period"] = cfg.rerouting_period

        def run(seed: int):
            return rr.run_with_rerouting(sc, agent_ids, seed, horizon, cfg.rerouting_period, extra)
    per_seed = []
    for seed in seeds:
        m = SeedMetrics.from_outcome(seed, plain_outcome(run(int(seed)), env_cfg))
        log.info("%s seed %d: travel time %.1f s, arrival %.2f", name, seed, m.mean_travel_time, m.arrival_rate)
        per_seed.append(m)
    return EvalResult(name, sc.name, sc.scenario_hash, tuple(per_seed), meta)


def _extra_args(env_cfg) -> list[str]:
    args = list(env_cfg.sumo_args)
    if env_cfg.step_length != 1.0:
        args += ["--step-length", f"{env_cfg.step_length:g}"]
    return args


def plain_outcome(run, env_cfg) -> EpisodeOutcome:
    """Per-agent arrays of a plain run, with the return under the env's ``travel_time`` reward."""
    a = run.agents
    tt = np.array([x.travel_time for x in a], dtype=np.float64)
    arrived = np.array([x.arrived for x in a], dtype=bool)
    tele = np.array([x.teleported for x in a], dtype=bool)
    departed = np.array([x.departed for x in a], dtype=bool)
    wait = np.array([x.waiting_time for x in a], dtype=np.float64)
    if env_cfg.reward == "travel_time":
        ret = (-np.where(departed, tt, 0.0) / env_cfg.reward_scale + env_cfg.arrival_bonus * arrived
               - env_cfg.teleport_penalty * tele)
    else:
        ret = np.full(len(a), np.nan)
    return EpisodeOutcome(tt, arrived, tele, departed, wait, ret, run.wall_seconds)


def evaluate_reference(name: str, scenario: ScenarioLike, seeds: int | Sequence[int] = 3,
                       env_options: Mapping[str, Any] | None = None, config: ReferenceConfig | None = None) -> EvalResult:
    """Evaluate reference ``name`` on ``seeds`` (a count from the evaluation seed base, or the seeds)."""
    return run_reference(name, scenario, eval_seeds(seeds), env_options, config)
