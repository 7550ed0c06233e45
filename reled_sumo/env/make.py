"""``make_env``: the public entry point of the routing environment."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reled_sumo.env.config import EnvConfig
from reled_sumo.env.routing_env import RoutingParallelEnv
from reled_sumo.errors import ConfigError, ScenarioError
from reled_sumo.scenario import resolve_scenario
from reled_sumo.scenario.manifest import Scenario, ScenarioLike

__all__ = ["ScenarioLike", "load_scenario", "make_env"]


def load_scenario(scenario: ScenarioLike) -> Scenario:
    """A :class:`~reled_sumo.scenario.manifest.Scenario` from a Scenario, a built scenario's
    name (under ``$RELED_HOME/scenarios``) or its folder."""
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, (str, Path)):
        raise ScenarioError(f"expected a scenario name, folder or Scenario, got {type(scenario).__name__}")
    return resolve_scenario(scenario)


def make_env(scenario: ScenarioLike, config: EnvConfig | None = None, **options: Any) -> RoutingParallelEnv:
    """Create the multi-agent routing env for ``scenario`` (name, folder or Scenario).

    ``options`` are :class:`EnvConfig` fields (``backend``, ``render_mode``/``gui``,
    ``seed``, ``horizon``, ``decision_lookahead``, ``reward``, ``reward_scale``,
    ``arrival_bonus``, ``invalid_action_penalty``, ``teleport_penalty``,
    ``max_agents``, ``obs_norm``, ``sumo_args``...); they override ``config``.
    """
    if config is not None and options:
        cfg = config.replace(**EnvConfig.from_options(**{**config.to_dict(), **options}).to_dict())
    elif config is not None:
        cfg = config
    else:
        cfg = EnvConfig.from_options(**options)
    sc = load_scenario(scenario)
    if cfg.max_agents is not None and cfg.max_agents > len(sc.agents):
        raise ConfigError(f"asked to control {cfg.max_agents} agents but scenario {sc.name} has only "
                          f"{len(sc.agents)}; use --agents {len(sc.agents)} or fewer, or build a scenario with more "
                          "agents (reled scenario build ... --agents N --name NEW)")
    return RoutingParallelEnv(sc, cfg)
