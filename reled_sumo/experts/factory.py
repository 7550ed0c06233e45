"""Build an expert from its options: the one place the CLI and the trainer choose experts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reled_sumo.errors import ConfigError
from reled_sumo.experts.base import Expert
from reled_sumo.experts.equilibrium import EquilibriumConfig, EquilibriumExpert
from reled_sumo.experts.routing import RoutingExpert
from reled_sumo.validation import check_field_types

EXPERTS = ("routing", "ollama", "agents-eq")
LLM_MODES = ("path", "routes")


@dataclass(frozen=True)
class ExpertOptions:
    """Which expert writes the demonstrations (``routing`` and ``agents-eq`` need no server;
    ``agents-eq`` demonstrates the agents-only equilibrium, ``eq_iterations`` x ``eq_seeds``
    SUMO episodes once per scenario and agent set, cached)."""

    kind: Literal["routing", "ollama", "agents-eq"] = "routing"
    model: str | None = None  # Ollama model (None: the client's default)
    host: str | None = None  # Ollama host (None: $OLLAMA_HOST or http://127.0.0.1:11434)
    timeout_s: float = 120.0  # whole-request deadline of one LLM answer (per attempt)
    retries: int = 2
    round_timeout_s: float = 600.0  # all LLM answers of one expert call (a demo round)
    fallback_on_unavailable: bool = False  # True: an unreachable server -> routing-expert routes
    mode: Literal["path", "routes"] = "path"  # LLM answers: junction paths, or a choice among named routes
    eq_iterations: int = 6  # agents-eq: best-response iterations (the agents-eq reference's default)
    eq_seeds: int = 2  # agents-eq: SUMO seeds each iteration is measured on
    eq_start: Literal["shortest", "live"] = "shortest"  # agents-eq: free-flow routes or the live prior's

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.kind not in EXPERTS:
            raise ConfigError(f"expert.kind must be one of {', '.join(EXPERTS)}, got {self.kind!r}")
        if not self.timeout_s > 0 or self.retries < 0:
            raise ConfigError("expert.timeout_s must be > 0 and expert.retries >= 0")
        if not self.round_timeout_s > 0:
            raise ConfigError(f"expert.round_timeout_s must be > 0, got {self.round_timeout_s!r}")
        if self.mode not in LLM_MODES:
            raise ConfigError(f"expert.mode must be one of {', '.join(LLM_MODES)}, got {self.mode!r}")
        self.equilibrium()  # validates eq_iterations, eq_seeds and eq_start (one set of rules)

    def equilibrium(self) -> EquilibriumConfig:
        """The ``agents-eq`` teacher's settings."""
        return EquilibriumConfig(self.eq_iterations, self.eq_seeds, start=self.eq_start)


def make_expert(opts: ExpertOptions, cache_dir: str | None = None, env: Any = None) -> Expert:
    """The routing expert (no LLM, the embedded default), the agents-only equilibrium (needs the
    ``env`` whose agents it routes), or the Ollama expert; its server is checked now
    (LLMUnavailableError with the client's explanation) unless it may fall back."""
    if opts.kind == "routing":
        return RoutingExpert()
    if opts.kind == "agents-eq":
        if env is None:
            raise ConfigError("the agents-eq expert needs the env whose agents it routes")
        return EquilibriumExpert(env, opts.equilibrium())
    from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert  # lazy: ollama
    from reled_sumo.experts.ollama_client import OllamaConfig  # lazy: ollama

    given = {"host": opts.host, "model": opts.model, "timeout_s": opts.timeout_s, "retries": opts.retries}
    ollama = OllamaConfig(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
    llm_cfg = LLMExpertConfig(ollama=ollama, fallback_on_unavailable=opts.fallback_on_unavailable,
                              cache_dir=cache_dir, round_timeout_s=opts.round_timeout_s)
    if opts.mode == "routes":  # the model picks one of a few named candidate routes per agent
        from reled_sumo.experts.route_choice import RouteChoiceExpert  # lazy: ollama

        expert: OllamaExpert = RouteChoiceExpert(llm_cfg)
    else:
        expert = OllamaExpert(llm_cfg)
    if not opts.fallback_on_unavailable:
        expert.client.check()
    return expert
