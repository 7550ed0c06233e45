"""The routing env under RLlib (new API stack): a ``MultiAgentEnv`` and a PPO config with one
shared, action-masked policy. Optional extra: ``pip install -e ".[rllib]"`` (:data:`RLLIB_REQUIREMENT`).

* :class:`RllibRoutingEnv` (built on first use: ``from reled_sumo.integrations.rllib import
  RllibRoutingEnv``) is :class:`~reled_sumo.integrations.multiagent.RoutingMultiAgentEnv` with
  RLlib's ``MultiAgentEnv`` mixed in: every possible agent declared up front, observations
  ``{"observations", "action_mask"}`` only for the agents at a decision point.
  RLlib builds it on each EnvRunner from the ``env_config``
  ``{"scenario": name or folder, "env_options": {...}}``.
* :func:`build_ppo_config` returns a ``PPOConfig``: every agent mapped to the policy
  ``"shared"``, an RLModule that masks invalid actions (RLlib's own
  ``ActionMaskingTorchRLModule``, shipped in ``ray.rllib.examples``), EnvRunners as Ray
  actors (one libsumo simulation each).

Ray is imported only inside these functions; without it they raise :class:`ConfigError`
saying how to install it. The rest of the library never imports this module.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env.make import load_scenario
from reled_sumo.errors import ConfigError
from reled_sumo.integrations.multiagent import RoutingMultiAgentEnv, env_from_config
from reled_sumo.validation import check_field_types

RLLIB_REQUIREMENT = "ray[rllib]>=2.60,<3"  # the tested range; keep in sync with pyproject's [rllib] extra
SHARED = "shared"  # the one policy (RLModule) every agent maps to


def import_rllib() -> Any:
    """The ``ray.rllib`` package, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray.rllib  # lazy: ray
        from ray.rllib.algorithms.ppo import PPOConfig  # noqa: F401  (pulls RLlib's own dependencies)
    except ImportError as exc:
        raise ConfigError(f"the RLlib integration needs RLlib, which is not installed: pip install -e \".[rllib]\" "
                          f"({RLLIB_REQUIREMENT}) ({exc})") from None
    return ray.rllib


@functools.cache
def _env_class() -> type:
    import_rllib()
    from ray.rllib.env.multi_agent_env import MultiAgentEnv  # lazy: ray

    class RllibRoutingEnv(RoutingMultiAgentEnv, MultiAgentEnv):  # type: ignore[misc]  # RLlib's looser spaces types
        """The routing env as an RLlib ``MultiAgentEnv``, built from RLlib's ``env_config``
        ``{"scenario": name or folder, "env_options": {EnvConfig field: value}}`` (see
        :class:`~reled_sumo.integrations.multiagent.RoutingMultiAgentEnv`)."""

        def __init__(self, config: Mapping[str, Any] | None = None):
            super().__init__(env_from_config(config if config is not None else {}))

    # pickled by reference (Ray ships the config to its EnvRunners): the module attribute below
    RllibRoutingEnv.__module__, RllibRoutingEnv.__qualname__ = __name__, "RllibRoutingEnv"
    return RllibRoutingEnv


def __getattr__(name: str) -> Any:
    if name == "RllibRoutingEnv":
        return _env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def shared_policy(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    """RLlib's ``policy_mapping_fn``: every agent acts with the policy :data:`SHARED`."""
    return SHARED


@dataclass(frozen=True)
class RllibPPOOptions:
    """PPO settings of :func:`build_ppo_config` (RLlib's names; batch sizes in env steps, i.e.
    returned :meth:`step` calls, each with one or more deciding agents)."""

    num_env_runners: int = 1  # Ray actors sampling episodes, one env (one libsumo) each; 0: sample in the driver
    train_batch_size: int = 1000
    minibatch_size: int = 128
    num_epochs: int = 4
    lr: float = 3e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    hidden: tuple[int, ...] = (64, 64)
    seed: int = 0  # EnvRunner i resets its env first with seed + i

    def __post_init__(self) -> None:
        check_field_types(self)
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.num_env_runners < 0:
            raise ConfigError(f"num_env_runners must be >= 0, got {self.num_env_runners}")
        for name in ("train_batch_size", "minibatch_size", "num_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.minibatch_size > self.train_batch_size:
            raise ConfigError(f"minibatch_size ({self.minibatch_size}) must not exceed train_batch_size "
                              f"({self.train_batch_size})")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("gamma", "lambda_"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden must be one or more layer widths >= 1, got {self.hidden!r}")
        if not 0 <= self.seed < 2**31 - 1024:
            raise ConfigError(f"seed must be in [0, 2**31 - 1024), got {self.seed}")


def env_config_for(scenario: ScenarioLike, agents: int | None = None,
                   env_options: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], RoutingMultiAgentEnv]:
    """The RLlib ``env_config`` (the scenario as an absolute folder, so EnvRunners on any node
    need no ``RELED_HOME``) and the adapter built from it here once, which checks the options
    and gives the spaces (no simulation starts)."""

    options = dict(env_options or {})
    if agents is not None:
        options["max_agents"] = agents
    env_config = {"scenario": str(load_scenario(scenario).path.resolve()), "env_options": options}
    return env_config, RoutingMultiAgentEnv(env_from_config(env_config))


def build_ppo_config(scenario: ScenarioLike, agents: int | None = None, env_options: Mapping[str, Any] | None = None,
                     **ppo_options: Any) -> Any:
    """A ``PPOConfig`` (new API stack) training one shared, action-masked policy on ``scenario``
    (a built scenario's name or folder) with ``agents`` controlled vehicles (None: all of the
    scenario's). ``env_options`` are :class:`~reled_sumo.env.EnvConfig` fields; ``ppo_options``
    are :class:`RllibPPOOptions` fields. ``config.build_algo()`` then needs Ray: it joins the
    Ray instance of this process or starts a local one."""
    import_rllib()
    from ray.rllib.algorithms.ppo import PPOConfig  # lazy: ray
    from ray.rllib.core.rl_module import MultiRLModuleSpec, RLModuleSpec  # lazy: ray
    from ray.rllib.examples.rl_modules.classes.action_masking_rlm import ActionMaskingTorchRLModule  # lazy: ray

    opts = RllibPPOOptions(**ppo_options)
    env_config, probe = env_config_for(scenario, agents, env_options)
    agent = probe.possible_agents[0]
    obs_space, act_space = probe.get_observation_space(agent), probe.get_action_space(agent)
    module = RLModuleSpec(module_class=ActionMaskingTorchRLModule, observation_space=obs_space,
                          action_space=act_space, model_config={"fcnet_hiddens": list(opts.hidden),
                                                                "fcnet_activation": "tanh"})
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(env=_env_class(), env_config=env_config, disable_env_checking=True)
        .env_runners(num_env_runners=opts.num_env_runners, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .multi_agent(policies={SHARED}, policy_mapping_fn=shared_policy)  # type: ignore[arg-type]
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={SHARED: module}))
        .training(lr=opts.lr, gamma=opts.gamma, lambda_=opts.lambda_, num_epochs=opts.num_epochs,
                  train_batch_size_per_learner=opts.train_batch_size, minibatch_size=opts.minibatch_size)
        .debugging(seed=opts.seed)
    )
