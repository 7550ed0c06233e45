"""Hybrid Expert-Agent Policy Optimization (HPO): PPO on agent rollouts plus weighted expert imitation.

See docs/method_hpo.md for the formulas as implemented.
"""
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer, RolloutSamples
from reled_sumo.optim.dtw import dtw_batch, path_dtw, resample_polyline, timed_path_dtw
from reled_sumo.optim.expert import ExpertBatch
from reled_sumo.optim.gae import compute_gae
from reled_sumo.optim.hpo import HPOConfig, HybridPPO
from reled_sumo.optim.policy import MultiAgentPolicy, PerAgentPolicy, PolicyConfig, SharedPolicy, build_policy
from reled_sumo.optim.weights import WeightConfig, expert_weights

__all__ = [
    "ExpertBatch", "HPOConfig", "HybridPPO", "MultiAgentPolicy", "MultiAgentRolloutBuffer", "PerAgentPolicy",
    "PolicyConfig", "RolloutSamples", "SharedPolicy", "WeightConfig", "build_policy", "compute_gae",
    "dtw_batch", "expert_weights", "path_dtw", "resample_polyline", "timed_path_dtw",
]
