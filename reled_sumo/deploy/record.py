"""The run record: what a trained policy was trained on, so that every replay of it is the same run.

The trainer writes it into the checkpoint's ``meta["record"]``; ``reled eval``, ``reled watch``,
``reled export`` and the ONNX path (the model's metadata carries it) read it back with
:meth:`RunRecord.from_meta`. It holds the scenario (name, folder, hash), the full
:class:`~reled_sumo.env.config.EnvConfig` (agent selection, observation settings, horizon, ...),
the controlled agents in the env's order, and the policy's kind.

Checkpoints written before the record existed carry the same facts as loose keys
(``scenario``, ``scenario_path``, ``scenario_hash``, ``config.env`` or ``env``,
``possible_agents``, ``policy_config.kind`` or ``kind``); :meth:`RunRecord.from_meta` reads those.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from reled_sumo.env.config import EnvConfig
from reled_sumo.errors import ConfigError
from reled_sumo.validation import check_field_types

POLICY_KINDS = ("shared", "per-agent")
# env settings of one replay, not of the run: the window, and the seed (each replay gives its episode seeds)
NOT_REPLAYED = ("render_mode", "gui_delay_ms", "seed")


@dataclass(frozen=True)
class RunRecord:
    scenario: str
    scenario_path: str | None
    scenario_hash: str | None
    agents: tuple[str, ...]
    policy_kind: str
    algo: str = "policy"
    seed: int | None = None
    env: EnvConfig = field(default_factory=EnvConfig)

    def __post_init__(self) -> None:
        check_field_types(self)
        if not self.scenario:
            raise ConfigError("a run record must name its scenario")
        if self.policy_kind not in POLICY_KINDS:
            raise ConfigError(f"run record: unknown policy kind {self.policy_kind!r}; one of {POLICY_KINDS}")

    # ------------------------------------------------------------------ the one rule for each question
    def target(self, override: Any = None) -> Any:
        """The scenario to load: ``override`` if given, else the recorded folder while it still holds a
        scenario, else the scenario's name (rebuilt or moved under ``$RELED_HOME``)."""
        if override:
            return override
        if self.scenario_path and (Path(self.scenario_path) / "scenario.json").is_file():
            return self.scenario_path
        return self.scenario

    def env_options(self, **overrides: Any) -> dict[str, Any]:
        """The run's env settings as :func:`~reled_sumo.env.make_env` options, less :data:`NOT_REPLAYED`."""
        opts = {k: v for k, v in self.env.to_dict().items() if k not in NOT_REPLAYED}
        opts.update(overrides)
        return opts

    def check_hash(self, scenario_hash: str) -> str | None:
        """A warning when the scenario changed since training (None if it is the same or unknown)."""
        if self.scenario_hash and self.scenario_hash != scenario_hash:
            return f"trained on scenario hash {self.scenario_hash}, replayed on {scenario_hash}"
        return None

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        env = self.env.to_dict()
        env["sumo_args"] = list(env["sumo_args"])
        if env["depart_window"] is not None:
            env["depart_window"] = list(env["depart_window"])
        return {"scenario": self.scenario, "scenario_path": self.scenario_path, "scenario_hash": self.scenario_hash,
                "agents": list(self.agents), "policy_kind": self.policy_kind, "algo": self.algo, "seed": self.seed,
                "env": env}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RunRecord":
        try:
            d = dict(raw)
            env = dict(d.pop("env", None) or {})
            if env.get("depart_window") is not None:
                env["depart_window"] = tuple(env["depart_window"])
            return cls(agents=tuple(d.pop("agents")), env=EnvConfig.from_options(**env), **d)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"invalid run record: {exc}") from exc

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], scenario: str | None = None) -> "RunRecord":
        """From a checkpoint's or an ONNX model's metadata (its ``record``, or the older loose keys);
        ``scenario``: the name to use when older metadata names no scenario (``--scenario``)."""
        if meta.get("record") is not None:
            return cls.from_dict(meta["record"])
        name = meta.get("scenario") or (Path(meta["scenario_path"]).name if meta.get("scenario_path") else scenario)
        if not name:
            raise ConfigError("the run's metadata names no scenario")
        env = (meta.get("config") or {}).get("env") or meta.get("env") or {}
        kind = (meta.get("policy_config") or {}).get("kind") or meta.get("kind") or "shared"
        return cls.from_dict({"scenario": str(name), "scenario_path": meta.get("scenario_path"),
                              "scenario_hash": meta.get("scenario_hash"), "agents": meta.get("possible_agents", ()),
                              "policy_kind": kind, "algo": str(meta.get("algo") or "policy"),
                              "seed": meta.get("seed"), "env": env})
