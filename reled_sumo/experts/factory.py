"""Build an expert from its options: the one place the CLI and the trainer choose experts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reled_sumo.errors import ConfigError
from reled_sumo.validation import check_field_types
from reled_sumo.experts.base import Expert
from reled_sumo.experts.routing import RoutingExpert

EXPERTS = ("routing", "ollama")


@dataclass(frozen=True)
class ExpertOptions:
    """Which expert writes the demonstrations (``routing`` needs no server)."""

    kind: Literal["routing", "ollama"] = "routing"
    model: str | None = None  # Ollama model (None: the client's default)
    host: str | None = None  # Ollama host (None: $OLLAMA_HOST or http://127.0.0.1:11434)
    timeout_s: float = 120.0
    retries: int = 2
    fallback_on_unavailable: bool = False  # True: an unreachable server -> routing-expert routes

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.kind not in EXPERTS:
            raise ConfigError(f"expert.kind must be one of {', '.join(EXPERTS)}, got {self.kind!r}")
        if not self.timeout_s > 0 or self.retries < 0:
            raise ConfigError("expert.timeout_s must be > 0 and expert.retries >= 0")


def make_expert(opts: ExpertOptions, cache_dir: str | None = None) -> Expert:
    """The routing expert (no LLM, the embedded default), or the Ollama expert; its server is
    checked now (LLMUnavailableError with the client's explanation) unless it may fall back."""
    if opts.kind == "routing":
        return RoutingExpert()
    from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
    from reled_sumo.experts.ollama_client import OllamaConfig

    given = {"host": opts.host, "model": opts.model, "timeout_s": opts.timeout_s, "retries": opts.retries}
    ollama = OllamaConfig(**{k: v for k, v in given.items() if v is not None})
    expert = OllamaExpert(LLMExpertConfig(ollama=ollama, fallback_on_unavailable=opts.fallback_on_unavailable,
                                          cache_dir=cache_dir))
    if not opts.fallback_on_unavailable:
        expert.client.check()
    return expert
