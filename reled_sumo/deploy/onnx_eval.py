"""Drive the routing env with an ONNX policy (``reled eval --policy-file``); no torch is imported.

One episode per seed (the evaluation seeds 10000, 10001, ... that ``reled eval --run``
uses), greedy actions from the ONNX model, the env options recorded in the model's
metadata. The result is the same :class:`~reled_sumo.metrics.results.EvalResult` as
``reled eval --run`` gives (per seed: mean / P95 / censored travel time, arrival rate,
teleports, ...; docs/evaluation.md), made by the same code
(:func:`~reled_sumo.metrics.episodes.run_env_episodes`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from reled_sumo.deploy.onnx_policy import OnnxPolicy
from reled_sumo.env.acting import with_zero_stats
from reled_sumo.env.episode import EpisodeStats, run_episode
from reled_sumo.env.make import ScenarioLike
from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import ConfigError
from reled_sumo.metrics.episodes import run_env_episodes
from reled_sumo.metrics.results import EvalResult, eval_seeds

log = logging.getLogger(__name__)


def env_options(record: RunRecord, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run's env settings, headless (``gui`` dropped), with ``overrides``."""
    opts = {k: v for k, v in (overrides or {}).items() if k != "gui"}
    return record.env_options(**opts, render_mode=None)


def check_agents(policy: OnnxPolicy, env: Any) -> None:
    """The env must give the model the observations, actions and agent order it was trained on."""
    space = env.observation_space(env.possible_agents[0])
    if space.shape[0] != policy.obs_dim or env.K != policy.n_actions:
        raise ConfigError(f"{policy.path.name} expects observations of {policy.obs_dim} and {policy.n_actions} "
                          f"actions; this scenario gives {space.shape[0]} and {env.K}")
    if policy.kind == "per-agent" and list(env.possible_agents) != policy.possible_agents:
        raise ConfigError(f"{policy.path.name} is a per-agent policy for {len(policy.possible_agents)} agents "
                          f"({policy.possible_agents[:3]}...); this env has {len(env.possible_agents)} other agents")


def play_episode(env: Any, policy: OnnxPolicy, seed: int) -> EpisodeStats:
    """One greedy episode through the project's one episode recorder (:func:`run_episode`)."""
    return run_episode(env, with_zero_stats(policy.act), seed=seed)


def evaluate_onnx(policy_file: str | Path, seeds: int | Sequence[int] = 3, scenario: ScenarioLike | None = None,
                  env_overrides: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate an exported policy on its scenario (or ``scenario``) over evaluation seeds.

    ``method`` is the file's name; ``meta`` records the file, the model's kind and algorithm."""
    policy = OnnxPolicy(policy_file)
    meta = policy.meta
    if not scenario and not (meta.get("record") or meta.get("scenario") or meta.get("scenario_path")):
        raise ConfigError(f"{policy_file} names no scenario; give one with --scenario")
    meta = policy.meta
    if not scenario and not (meta.get("record") or meta.get("scenario") or meta.get("scenario_path")):
        raise ConfigError(f"{policy_file} names no scenario; give one with --scenario")
    record = policy.record(scenario=str(scenario) if scenario else None)
    info = {"kind": "onnx", "policy_file": str(policy_file), "algo": record.algo, "policy_kind": meta.get("kind")}

    def check(env) -> None:
        trained_on = record.scenario_hash
        if trained_on and trained_on != env.scenario.scenario_hash:
            raise ConfigError(f"{policy_file} was trained on scenario hash {trained_on}, but "
                              f"{env.scenario.name} has hash {env.scenario.scenario_hash}: its agents and roads "
                              "differ, so the results would mean nothing; evaluate it on the scenario it was "
                              "trained on")
        check_agents(policy, env)

    return run_env_episodes(record.target(scenario), eval_seeds(seeds), env_options(record, env_overrides),
                            lambda env, s: play_episode(env, policy, s), Path(policy_file).name, info,
                            check_env=check)
