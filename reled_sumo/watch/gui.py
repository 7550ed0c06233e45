"""Watch agents drive in sumo-gui: a reference policy or a trained run.

The env runs with ``render_mode="human"`` (sumo-gui through TraCI, started with
``--start`` and ``--quit-on-end``). Closing the GUI window ends the episode cleanly.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reled_sumo.errors import SimulationDiedError

log = logging.getLogger(__name__)

# (obs, infos) -> {agent: action} for the agents that need a decision
DictPolicy = Callable[[dict, dict], dict]
# env -> DictPolicy (a policy may need the env's agent order)
PolicyFactory = Callable[[object], DictPolicy]


@dataclass(frozen=True)
class WatchResult:
    sim_seconds: float
    arrived: int
    agents: int
    mean_travel_time: float
    closed_by_user: bool


def reference_policy(name: str, seed: int = 0) -> PolicyFactory:
    from reled_sumo.env.policies import get_policy

    pol = get_policy(name, seed=seed) if name == "random" else get_policy(name)
    return lambda env: pol


def run_policy(run_dir: str | Path) -> tuple[PolicyFactory, dict]:
    """A trained run's policy (deterministic actions) as a policy factory, and the run's metadata."""
    import numpy as np

    from reled_sumo.training.checkpoint import load_policy

    policy, meta = load_policy(Path(run_dir))

    def factory(env) -> DictPolicy:
        index = {a: i for i, a in enumerate(env.possible_agents)}

        def act(obs: dict, infos: dict) -> dict:
            deciders = [a for a in obs if infos[a].get("needs_decision")]
            if not deciders:
                return {}
            o = np.stack([obs[a] for a in deciders])
            m = np.stack([infos[a]["action_mask"] for a in deciders]).astype(bool)
            idx = np.array([index[a] for a in deciders])
            actions, _, _ = policy.act(o, idx, m, deterministic=True)
            return {a: int(k) for a, k in zip(deciders, actions)}

        return act

    return factory, meta


def watch(scenario, factory: PolicyFactory, seed: int = 0, delay_ms: float = 100.0, **env_options) -> WatchResult:
    """Drive one episode in sumo-gui with the policy ``factory(env)`` builds."""
    from reled_sumo.env import make_env

    env = make_env(scenario, render_mode="human", gui_delay_ms=delay_ms, seed=seed, **env_options)
    policy = factory(env)
    arrived, times, closed = 0, [], False
    try:
        obs, infos = env.reset(seed=seed)
        while env.agents:
            obs, _, terms, truncs, infos = env.step(policy(obs, infos))
            for a, done in terms.items():
                if done:
                    arrived += 1
                    times.append(float(infos[a].get("travel_time", 0.0)))
    except SimulationDiedError:
        log.info("sumo-gui was closed")
        closed = True
    finally:
        sim_time = env.sim_time
        env.close()
    mean = sum(times) / len(times) if times else float("nan")
    return WatchResult(sim_time, arrived, len(env.possible_agents), mean, closed)
