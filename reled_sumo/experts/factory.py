"""Build an expert by name: the one place the CLI and the trainer choose experts."""
from __future__ import annotations

from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import Expert
from reled_sumo.experts.routing import RoutingExpert

EXPERTS = ("routing", "ollama")
LLM_MODES = ("path", "routes")


def make_expert(name: str, model: str | None = None, host: str | None = None,
                fallback_on_unavailable: bool = False, cache_dir: str | None = None,
                mode: str = "path") -> Expert:
    """``routing`` (no LLM, the embedded default) or ``ollama`` (local LLM, routing fallback).

    ``mode`` (ollama only): ``path`` (the model writes every junction) or ``routes`` (it picks
    one of a few named candidate routes per agent, see :mod:`reled_sumo.experts.route_choice`).
    """
    if mode not in LLM_MODES:
        raise ConfigError(f"unknown LLM mode {mode!r}; choose one of {', '.join(LLM_MODES)}")
    if name == "routing":
        return RoutingExpert()
    if name == "ollama":
        from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
        from reled_sumo.experts.ollama_client import DEFAULT_MODEL, OllamaConfig

        cfg = LLMExpertConfig(ollama=OllamaConfig(host=host, model=model or DEFAULT_MODEL),
                              fallback_on_unavailable=fallback_on_unavailable, cache_dir=cache_dir)
        if mode == "routes":
            from reled_sumo.experts.route_choice import RouteChoiceExpert

            return RouteChoiceExpert(cfg)
        return OllamaExpert(cfg)
    raise ConfigError(f"unknown expert {name!r}; choose one of {', '.join(EXPERTS)}")
