"""Build an expert by name: the one place the CLI and the trainer choose experts."""
from __future__ import annotations

from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import Expert
from reled_sumo.experts.routing import RoutingExpert

EXPERTS = ("routing", "ollama")


def make_expert(name: str, model: str | None = None, host: str | None = None,
                fallback_on_unavailable: bool = False, cache_dir: str | None = None,
                timeout_s: float | None = None, retries: int | None = None) -> Expert:
    """``routing`` (no LLM, the embedded default) or ``ollama`` (local LLM, routing fallback).

    ``timeout_s`` / ``retries``: per LLM request (None: the client's defaults, 120 s and 2)."""
    if name == "routing":
        return RoutingExpert()
    if name == "ollama":
        from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
        from reled_sumo.experts.ollama_client import DEFAULT_MODEL, OllamaConfig

        given = {"timeout_s": timeout_s, "retries": retries}
        ollama = OllamaConfig(host=host, model=model or DEFAULT_MODEL, **{k: v for k, v in given.items() if v is not None})
        cfg = LLMExpertConfig(ollama=ollama,
                              fallback_on_unavailable=fallback_on_unavailable, cache_dir=cache_dir)
        return OllamaExpert(cfg)
    raise ConfigError(f"unknown expert {name!r}; choose one of {', '.join(EXPERTS)}")
