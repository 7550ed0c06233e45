"""Experts that write route demonstrations: a routing expert and an LLM (Ollama) expert.

The LLM side (``OllamaExpert``, ``OllamaClient``...) is imported lazily so that
``import reled_sumo.experts`` does not load the ``ollama`` package.
"""
from __future__ import annotations

import importlib
from typing import Any

from reled_sumo.experts.base import (
    AgentFeedback,
    AgentTrip,
    Expert,
    ExpertRoute,
    ExpertStats,
    is_valid_trip_route,
)
from reled_sumo.experts.routing import RoutingConfig, RoutingExpert, interaction_subsets

_LAZY = {
    "OllamaExpert": "reled_sumo.experts.llm",
    "LLMExpertConfig": "reled_sumo.experts.llm",
    "OllamaClient": "reled_sumo.experts.ollama_client",
    "OllamaConfig": "reled_sumo.experts.ollama_client",
    "ServerInfo": "reled_sumo.experts.ollama_client",
    "PromptConfig": "reled_sumo.experts.prompt",
    "build_prompt": "reled_sumo.experts.prompt",
    "ResponseCache": "reled_sumo.experts.cache",
    "validate_answer": "reled_sumo.experts.instructions",
    "InvalidAnswerError": "reled_sumo.experts.instructions",
}

__all__ = [
    "AgentFeedback",
    "AgentTrip",
    "Expert",
    "ExpertRoute",
    "ExpertStats",
    "RoutingConfig",
    "RoutingExpert",
    "interaction_subsets",
    "is_valid_trip_route",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reled_sumo.experts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
