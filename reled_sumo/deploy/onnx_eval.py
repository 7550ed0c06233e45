"""Drive the routing env with an ONNX policy (``reled eval --policy-file``); no torch is imported.

One episode per seed (the evaluation seeds 10000, 10001, ... that ``reled eval --run``
uses), greedy actions from the ONNX model, the env options recorded in the model's
metadata. Per seed: the arrived agents' travel times (in agent order), their mean and
P95, the arrival rate and the number of teleported agents; the same definitions as
``reled eval`` (docs/evaluation.md).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from reled_sumo.deploy.onnx_policy import OnnxPolicy
from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import ConfigError

log = logging.getLogger(__name__)

EVAL_SEED_BASE = 10_000  # the evaluation seeds of `reled eval --run`


@dataclass(frozen=True)
class OnnxEpisode:
    seed: int
    n_agents: int
    travel_times: tuple[float, ...]  # arrived agents, in agent order
    arrived: int
    teleported: int
    decisions: int
    wall_seconds: float = field(compare=False)

    @property
    def mean_travel_time(self) -> float:
        return float(np.mean(self.travel_times)) if self.travel_times else math.nan

    @property
    def p95_travel_time(self) -> float:
        return float(np.percentile(self.travel_times, 95)) if self.travel_times else math.nan

    @property
    def arrival_rate(self) -> float:
        return self.arrived / self.n_agents if self.n_agents else math.nan


@dataclass(frozen=True)
class OnnxEvalResult:
    policy_file: str
    scenario: str
    scenario_hash: str
    episodes: tuple[OnnxEpisode, ...]


def env_options(record: RunRecord, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run's env settings, headless (``gui`` dropped), with ``overrides``."""
    opts = {k: v for k, v in (overrides or {}).items() if k != "gui"}
    return record.env_options(**opts, render_mode=None)


def check_agents(policy: OnnxPolicy, env) -> None:
    """The env must give the model the observations, actions and agent order it was trained on."""
    space = env.observation_space(env.possible_agents[0])
    if space.shape[0] != policy.obs_dim or env.K != policy.n_actions:
        raise ConfigError(f"{policy.path.name} expects observations of {policy.obs_dim} and {policy.n_actions} "
                          f"actions; this scenario gives {space.shape[0]} and {env.K}")
    if policy.kind == "per-agent" and list(env.possible_agents) != policy.possible_agents:
        raise ConfigError(f"{policy.path.name} is a per-agent policy for {len(policy.possible_agents)} agents "
                          f"({policy.possible_agents[:3]}...); this env has {len(env.possible_agents)} other agents")


def play_episode(env, policy: OnnxPolicy, seed: int) -> OnnxEpisode:
    """One greedy episode through the project's one episode recorder (:func:`run_episode`)."""
    from reled_sumo.env.episode import run_episode

    def act(obs, agent_index, mask):
        actions = np.asarray(policy.act(obs, agent_index, mask), dtype=np.int64)
        zeros = np.zeros(len(actions), dtype=np.float32)
        return actions, zeros, zeros

    st = run_episode(env, act, seed=seed)
    return OnnxEpisode(int(seed), st.n_agents, tuple(float(x) for x in st.travel_time[st.arrived]),
                       int(st.arrived.sum()), int(st.teleported.sum()), st.decisions, st.wall_seconds)


def evaluate_onnx(policy_file: str | Path, seeds: int | Sequence[int] = 3, scenario: Any = None,
                  env_overrides: Mapping[str, Any] | None = None) -> OnnxEvalResult:
    """Evaluate an exported policy on its scenario (or ``scenario``) over evaluation seeds."""
    from reled_sumo.env import make_env

    policy = OnnxPolicy(policy_file)
    meta = policy.meta
    if not scenario and not (meta.get("record") or meta.get("scenario") or meta.get("scenario_path")):
        raise ConfigError(f"{policy_file} names no scenario; give one with --scenario")
    record = policy.record(scenario=str(scenario) if scenario else None)
    target = record.target(scenario)
    seed_list = tuple(EVAL_SEED_BASE + i for i in range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    if not seed_list:
        raise ConfigError("need at least one evaluation seed")
    env = make_env(target, **env_options(record, env_overrides))
    try:
        check_agents(policy, env)
        episodes = []
        for s in seed_list:
            ep = play_episode(env, policy, int(s))
            log.info("onnx seed %d: travel time %.1f s, arrival %.2f", s, ep.mean_travel_time, ep.arrival_rate)
            episodes.append(ep)
        sc = env.scenario
    finally:
        env.close()
    if (warning := record.check_hash(sc.scenario_hash)) is not None:
        log.warning("%s was %s", policy_file, warning)
    return OnnxEvalResult(str(policy_file), sc.name, sc.scenario_hash, tuple(episodes))
