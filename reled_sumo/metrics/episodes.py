"""One env, one episode per seed -> an :class:`~reled_sumo.metrics.results.EvalResult`: the
path every evaluation takes (``reled eval --run``, references, ``--policy-file``)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from reled_sumo.env.episode import EpisodeStats
from reled_sumo.env.make import ScenarioLike, make_env
from reled_sumo.metrics.results import EpisodeOutcome, EvalResult, SeedMetrics

log = logging.getLogger(__name__)

EpisodeFn = Callable[[Any, int], EpisodeStats]  # (env, seed) -> plays one episode, returns its stats


def outcome(stats: EpisodeStats) -> EpisodeOutcome:
    """The collector's per-agent statistics as an :class:`EpisodeOutcome`."""
    return EpisodeOutcome(stats.travel_time.copy(), stats.arrived.copy(), stats.teleported.copy(),
                          stats.departed.copy(), stats.waiting_time.copy(), stats.returns.copy(),
                          stats.wall_seconds)


def clean_env_options(env_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Env options for evaluation: headless, no GUI."""
    opts = dict(env_options or {})
    opts.pop("gui", None)
    opts["render_mode"] = None
    return opts


def run_env_episodes(scenario: ScenarioLike, seeds: Sequence[int], env_options: Mapping[str, Any] | None,
                     episode: EpisodeFn, method: str, meta: Mapping[str, Any] | None = None,
                     check_env: Callable[[Any], None] | None = None) -> EvalResult:
    """Play ``episode`` once per seed in one env and collect the metrics (``check_env(env)``
    first, if given: it may refuse the env)."""
    env = make_env(scenario, **clean_env_options(env_options))
    try:
        if check_env is not None:
            check_env(env)
        per_seed = []
        for seed in seeds:
            m = SeedMetrics.from_outcome(seed, outcome(episode(env, int(seed))))
            log.info("%s seed %d: travel time %.1f s, arrival %.2f", method, seed, m.mean_travel_time, m.arrival_rate)
            per_seed.append(m)
        sc = env.scenario
    finally:
        env.close()
    info = {"scenario_path": str(sc.path), "env": clean_env_options(env_options), "n_agents": len(env.possible_agents)}
    return EvalResult(method, sc.name, sc.scenario_hash, tuple(per_seed), {**info, **dict(meta or {})})
