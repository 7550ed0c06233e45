"""Adapters to other RL frameworks (the top layer; nothing in the library imports it).

* :mod:`reled_sumo.integrations.multiagent`: the routing env in RLlib's multi-agent
  conventions (every possible agent up front, observations only for deciding agents), no Ray.
* :mod:`reled_sumo.integrations.rllib`: that env as an RLlib ``MultiAgentEnv`` and a PPO
  config with one shared, action-masked policy (optional extra ``[rllib]``).
"""
