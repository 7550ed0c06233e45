"""Evaluate policies, trained runs and references on a scenario's agent vehicles.

Every method is measured the same way (docs/evaluation.md): one episode per seed,
the same agents (the env's ``possible_agents``), the same horizon, and per seed

* ``mean_travel_time`` / ``p95_travel_time``: over the agents that **arrived** within
  the horizon (departure -> arrival, seconds). Agents that did not arrive are *not* in
  these numbers; they lower ``arrival_rate`` and are counted separately as
  ``unfinished`` (still driving at the horizon), ``teleported`` and ``not_departed``.
  ``censored_travel_time`` adds every departed agent with its time in the network up
  to the horizon / its first teleport (a lower bound of its true travel time).
* ``arrival_rate``: arrived agents / all agents.
* ``mean_waiting_time``: mean over departed agents of their accumulated waiting time.
* ``teleports``: agents whose trip ended in a teleport.
* ``mean_return``: mean over agents of the episode return under the env's reward.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from reled_sumo.deploy.record import RunRecord
from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env.acting import learner_act
from reled_sumo.env.episode import ActFn, run_episode
from reled_sumo.errors import ConfigError
from reled_sumo.metrics.episodes import run_env_episodes
from reled_sumo.metrics.results import EvalResult, eval_seeds
from reled_sumo.optim.threads import torch_threads
from reled_sumo.training.checkpoint import load_policy

log = logging.getLogger(__name__)

def evaluate_policy(scenario: ScenarioLike, act_fn: ActFn, seeds: int | Iterable[int] = 3,
                    env_options: Mapping[str, Any] | None = None, method: str = "policy",
                    meta: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate ``act_fn(obs[B,D], agent_index[B], mask[B,K]) -> (actions, values, log_probs)``."""

    def episode(env, seed):
        return run_episode(env, act_fn, seed=seed)

    return run_env_episodes(scenario, eval_seeds(seeds), env_options, episode, method, meta)


def evaluate_loaded(policy, meta: Mapping[str, Any] | RunRecord, seeds: int | Iterable[int] = 3,
                    label: str | None = None, env_overrides: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate a loaded policy on the scenario and env settings of its run record (or run ``meta``)."""
    record = meta if isinstance(meta, RunRecord) else RunRecord.from_meta(meta)
    info = {"algo": record.algo, "train_seed": record.seed, "kind": "run"}
    with torch_threads(1):  # tiny networks beside SUMO: more threads only add overhead
        return evaluate_policy(record.target(), learner_act(policy, True), seeds,
                               record.env_options(**dict(env_overrides or {})), method=label or record.algo,
                               meta=info)


def evaluate_run(run_dir: str | Path, seeds: int | Iterable[int] = 3,
                 env_overrides: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate the trained policy of ``run_dir`` with deterministic (greedy) actions."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"run folder {run} does not exist" if not run.exists() else
                          f"{run} is a file, not a run folder; give the folder that holds checkpoint.pt")
    policy, meta = load_policy(run)
    if hasattr(policy, "eval"):
        policy.eval()
    record = RunRecord.from_meta(meta)
    if record.scenario_path is None:  # a checkpoint older than scenario_path: <run>/scenario.json
        record = replace(record, scenario_path=_run_scenario_path(run))
    res = evaluate_loaded(policy, record, seeds, label=f"{record.algo}:{run.name}", env_overrides=env_overrides)
    if (warning := record.check_hash(res.scenario_hash)) is not None:
        log.warning("%s was %s", run, warning)
    return EvalResult(res.method, res.scenario, res.scenario_hash, res.per_seed, {**res.meta, "run_dir": str(run)})


def _run_scenario_path(run: Path) -> str | None:
    """The scenario folder a run recorded in ``<run>/scenario.json`` (if it still exists)."""
    try:
        path = json.loads((run / "scenario.json").read_text()).get("path")
    except (OSError, ValueError, AttributeError):
        return None
    return path if path and (Path(path) / "scenario.json").exists() else None

