"""The routing env in RLlib's multi-agent conventions, with no Ray import (the RLlib class is
:mod:`reled_sumo.integrations.rllib`; this part is tested without the extra).

RLlib's ``MultiAgentEnv`` (new API stack) expects other things than PettingZoo's parallel API,
and ``ParallelPettingZooEnv`` gets two of them wrong for this env:

* **Every possible agent up front.** ``possible_agents``, ``observation_spaces`` and
  ``action_spaces`` list all controlled vehicles when the env is built. (``ParallelPettingZooEnv``
  builds its spaces from the agents present after the first reset: vehicles that depart later
  would have none.)
* **Observations only for agents that must act.** RLlib computes an action for every agent
  in the returned observations, so only the agents at a decision point
  (``infos[a]["needs_decision"]``) get one: ``{"observations": float32[D], "action_mask":
  float32[K]}`` (the layout of RLlib's action-masking RLModule). Env steps in which nobody
  decides are advanced inside :meth:`step`, so every returned step has an agent to act or
  ends the episode.
* **Rewards** are the env's: a decider's reward closes its previous decision, a done agent's
  closes its last one. Agents that never decided are never reported (RLlib has no step of
  theirs to credit).
* **Done agents** come with their final observation (truncation at the horizon bootstraps from
  it), in ``terminateds`` / ``truncateds``; ``"__all__"`` is set when no agent is left
  (``truncateds["__all__"]`` when the horizon cut it, else ``terminateds["__all__"]``).
  RLlib's ``MultiAgentEpisode`` ends an episode as soon as every agent it has seen is done,
  although later vehicles will still depart. So a done agent is reported only while some
  other agent RLlib already knows is still running (or with ``"__all__"``); until then it is
  held back. It has no action pending, so holding it back changes no transition.

Actions: ``{agent: int}`` for the agents of the last observation. An agent that got no
observation (unknown, done, or not at a decision point) is a :class:`UserInputError`. A
decider left out drives on along its shortest path; an action outside ``[0, K)`` or masked
out is the env's invalid action: the best valid candidate is driven instead, and the agent
gets the ``invalid_action_penalty`` and a count in ``infos[a]["n_invalid_actions"]``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from reled_sumo.env.episode import deciders
from reled_sumo.env.make import make_env
from reled_sumo.env.routing_env import RoutingParallelEnv
from reled_sumo.errors import ConfigError, UserInputError

OBS_KEY = "observations"
MASK_KEY = "action_mask"
CONFIG_KEYS = ("scenario", "env_options")
ALL = "__all__"


def env_from_config(env_config: Mapping[str, Any]) -> RoutingParallelEnv:
    """The PettingZoo env of an RLlib ``env_config``: ``{"scenario": name or folder,
    "env_options": {EnvConfig field: value}}`` (``env_options`` optional)."""
    if not isinstance(env_config, Mapping):
        raise ConfigError(f"env_config must be a mapping, got {type(env_config).__name__}")
    unknown = sorted(set(env_config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown env_config key(s): {', '.join(map(str, unknown))}; known: {', '.join(CONFIG_KEYS)}")
    if "scenario" not in env_config:
        raise ConfigError("env_config needs 'scenario': a built scenario's name or folder")
    options = env_config.get("env_options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"env_config['env_options'] must be a mapping, got {type(options).__name__}")
    return make_env(env_config["scenario"], **options)


class RoutingMultiAgentEnv:
    """:class:`~reled_sumo.env.RoutingParallelEnv` behind RLlib's ``MultiAgentEnv`` API (see
    the module doc); ``RoutingMultiAgentEnv(env_from_config(env_config))`` from an RLlib ``env_config``."""

    def __init__(self, env: RoutingParallelEnv):
        super().__init__()  # RLlib's MultiAgentEnv, when mixed in
        self.env = env
        self.possible_agents: list[str] = list(env.possible_agents)
        first = self.possible_agents[0]
        obs_space = spaces.Dict({OBS_KEY: env.observation_space(first),
                                 MASK_KEY: spaces.Box(0.0, 1.0, shape=(env.K,), dtype=np.float32)})
        self.observation_spaces = dict.fromkeys(self.possible_agents, obs_space)
        self.action_spaces = dict.fromkeys(self.possible_agents, env.action_space(first))
        self.agents: list[str] = []
        self._acting: frozenset[str] = frozenset()  # got an observation in the last reset/step
        self._open: set[str] = set()  # reported to RLlib, not yet reported done
        self._held: dict[str, tuple] = {}  # done, not yet reported: (obs, reward, term, trunc, info)
        self._ended = True

    def get_observation_space(self, agent_id: str) -> spaces.Dict:
        return self.observation_spaces[agent_id]

    def get_action_space(self, agent_id: str) -> spaces.Discrete:
        return self.action_spaces[agent_id]

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self._open.clear()
        self._held.clear()
        out = self._until_decision((obs, {}, {}, {}, infos))
        return out[0], out[4]

    def step(self, action_dict: Mapping[str, Any]):
        stray = [a for a in action_dict if a not in self._acting]
        if stray:
            raise UserInputError(f"actions for agent(s) that are not at a decision point now: {stray[:5]} "
                                 f"(deciding: {sorted(self._acting)[:5]})")
        if self._ended:
            return {}, {}, {ALL: True}, {ALL: False}, {}
        return self._until_decision(self.env.step(action_dict))

    def close(self) -> None:
        self.env.close()

    # ----------------------------------------------------------------------------------
    def _until_decision(self, result: tuple) -> tuple[dict, dict, dict, dict, dict]:
        """Step the env with no actions until an agent must decide or the episode ends; the
        RLlib dicts of the steps taken. (The env rewards only deciders and done agents, so the
        steps without a decider deliver rewards only with done agents.)"""
        env = self.env
        done: dict[str, tuple] = {}
        truncated_end = False
        while True:
            obs, rew, term, trunc, infos = result
            for a, te in term.items():
                if te or trunc[a]:
                    done[a] = (obs[a], rew[a], bool(te), bool(trunc[a]), infos[a])
                    truncated_end = truncated_end or bool(trunc[a])
            dec = deciders(env, infos)
            if dec or not env.agents:
                break
            result = env.step({})
        return self._pack(obs, rew, infos, dec, done, truncated_end)

    def _pack(self, obs, rew, infos, dec: list[str], done: dict, truncated_end: bool):
        over = not self.env.agents
        out_obs = {a: {OBS_KEY: obs[a], MASK_KEY: infos[a]["action_mask"].astype(np.float32)} for a in dec}
        out_rew = {a: rew.get(a, 0.0) for a in dec}  # closes the decider's previous decision
        out_info = {a: infos[a] for a in dec}
        out_term = {ALL: over and not truncated_end}
        out_trunc = {ALL: over and truncated_end}
        self._held.update((a, d) for a, d in done.items() if a in self._open)
        # report done agents only while RLlib knows a running agent (see the module doc);
        # held agents are open ones, so that is: more open agents than held ones
        if self._held and (over or len(self._open) > len(self._held)):
            mask = np.zeros(self.env.K, dtype=np.float32)
            for a, (o, r, te, tr, info) in self._held.items():
                out_obs[a] = {OBS_KEY: o, MASK_KEY: mask}
                out_rew[a] = r
                out_term[a], out_trunc[a] = te, tr
                out_info[a] = info
                self._open.discard(a)
            self._held.clear()
        self._open.update(dec)
        self._acting = frozenset(dec)
        self.agents = self.env.agents  # a new list every env step
        self._ended = over
        return out_obs, out_rew, out_term, out_trunc, out_info
