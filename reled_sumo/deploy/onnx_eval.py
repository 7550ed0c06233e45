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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from reled_sumo.deploy.onnx_policy import OnnxPolicy
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


def env_options(meta: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    opts = {**dict(meta.get("env") or {}), **dict(overrides or {})}
    opts.pop("gui", None)
    opts["render_mode"] = None
    return opts


def check_agents(policy: OnnxPolicy, env) -> None:
    """The env must give the model the observations, actions and agent order it was trained on."""
    space = env.observation_space(env.possible_agents[0])
    if space.shape[0] != policy.obs_dim or env.K != policy.n_actions:
        raise ConfigError(f"{policy.path.name} expects observations of {policy.obs_dim} and {policy.n_actions} "
                          f"actions; this scenario gives {space.shape[0]} and {env.K}")
    if policy.meta.get("kind") == "per-agent" and list(env.possible_agents) != policy.possible_agents:
        raise ConfigError(f"{policy.path.name} is a per-agent policy for {len(policy.possible_agents)} agents "
                          f"({policy.possible_agents[:3]}...); this env has {len(env.possible_agents)} other agents")


def play_episode(env, policy: OnnxPolicy, seed: int) -> OnnxEpisode:
    """One greedy episode; returns per-agent outcomes."""
    t0 = time.perf_counter()
    index = {a: i for i, a in enumerate(env.possible_agents)}
    n = len(index)
    tt = np.full(n, np.nan)
    arrived = np.zeros(n, dtype=bool)
    teleported = 0
    decisions = 0
    obs, infos = env.reset(seed=seed)
    while env.agents:
        dec = [a for a in env.agents if infos[a].get("needs_decision", True)]
        actions: dict[str, int] = {}
        if dec:
            o = np.stack([obs[a] for a in dec])
            m = np.stack([np.asarray(infos[a]["action_mask"], dtype=bool) for a in dec])
            idx = np.array([index[a] for a in dec], dtype=np.int64)
            actions = {a: int(k) for a, k in zip(dec, policy.act(o, idx, m))}
            decisions += len(dec)
        obs, _, terms, truncs, infos = env.step(actions)
        for a in set(terms) | set(truncs):
            if terms.get(a) or truncs.get(a):
                i = index[a]
                arrived[i] = bool(terms.get(a))
                tt[i] = float(infos.get(a, {}).get("travel_time", np.nan))
                teleported += infos.get(a, {}).get("done_reason") == "teleported"
    return OnnxEpisode(int(seed), n, tuple(float(x) for x in tt[arrived]), int(arrived.sum()), int(teleported),
                       decisions, time.perf_counter() - t0)


def evaluate_onnx(policy_file: str | Path, seeds: int | Sequence[int] = 3, scenario: Any = None,
                  env_overrides: Mapping[str, Any] | None = None) -> OnnxEvalResult:
    """Evaluate an exported policy on its scenario (or ``scenario``) over evaluation seeds."""
    from reled_sumo.env import make_env

    policy = OnnxPolicy(policy_file)
    target = scenario or policy.meta.get("scenario_path") or policy.meta.get("scenario")
    if not target:
        raise ConfigError(f"{policy_file} names no scenario; give one with --scenario")
    seed_list = tuple(EVAL_SEED_BASE + i for i in range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    if not seed_list:
        raise ConfigError("need at least one evaluation seed")
    env = make_env(target, **env_options(policy.meta, env_overrides))
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
    if policy.meta.get("scenario_hash") and policy.meta["scenario_hash"] != sc.scenario_hash:
        log.warning("%s was trained on scenario hash %s, evaluated on %s", policy_file, policy.meta["scenario_hash"],
                    sc.scenario_hash)
    return OnnxEvalResult(str(policy_file), sc.name, sc.scenario_hash, tuple(episodes))
