"""Multi-agent routing environment (PettingZoo ParallelEnv) on a built scenario."""
from reled_sumo.env.config import EnvConfig, ObsNorm
from reled_sumo.env.make import load_scenario, make_env
from reled_sumo.env.policies import Policy, get_policy, policy_names, register_policy
from reled_sumo.env.rewards import RewardInputs, get_reward, register_reward, reward_names
from reled_sumo.env.routing_env import RoutingParallelEnv

__all__ = [
    "EnvConfig",
    "ObsNorm",
    "Policy",
    "RewardInputs",
    "RoutingParallelEnv",
    "get_policy",
    "get_reward",
    "load_scenario",
    "make_env",
    "policy_names",
    "register_policy",
    "register_reward",
    "reward_names",
]
