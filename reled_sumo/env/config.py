"""Options of the routing environment: :class:`EnvConfig` and :class:`ObsNorm`."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from reled_sumo.env.live import ESTIMATES as LIVE_ESTIMATES, SAMPLE_S as LIVE_SAMPLE_S, WINDOW_S as LIVE_WINDOW_S
from reled_sumo.env.rewards import get_reward
from reled_sumo.errors import ConfigError
from reled_sumo.sim.config import BACKENDS
from reled_sumo.validation import check_field_types

RENDER_MODES = (None, "human")


@dataclass(frozen=True)
class ObsNorm:
    """Divisors that bring observation features to roughly [0, 1] (see docs/env.md)."""

    time_s: float = 300.0  # elapsed / remaining / travel times
    distance_m: float = 3000.0  # remaining distances, straight-line distance
    length_m: float = 500.0  # edge lengths
    speed_mps: float = 30.0  # speed limits, mean and own speeds
    vehicles: float = 20.0  # vehicles on an edge

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"obs_norm.{f.name} must be a positive number, got {v!r}")


def _obs_norm(values: Mapping[str, Any]) -> ObsNorm:
    known = {f.name for f in fields(ObsNorm)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown obs_norm key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return ObsNorm(**values)


AGENT_SELECTIONS = ("first", "busy")


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines an episode of :class:`~reled_sumo.env.RoutingParallelEnv`.

    * ``backend``: ``"libsumo"`` (fast, one env per process) or ``"traci"``.
    * ``render_mode``: None or ``"human"`` (sumo-gui through TraCI, ``--start``,
      ``--quit-on-end``, ``gui_delay_ms``). ``gui=True`` is a synonym of "human".
    * ``seed``: seed of the first ``reset()`` without a seed (None: the scenario's seed).
    * ``horizon``: episode length in simulated seconds (None: the scenario's duration).
    * ``decision_lookahead``: edges committed per decision. 1 (default): an agent decides
      at every edge with a choice; L > 1: after choosing a candidate it also keeps the
      next L-1 edges of the shortest path through it before deciding again.
    * ``loop_guard``: False (default). True: a decider's candidates onto an edge it has already been
      seen on during this trip are masked, unless that would mask them all (against learned loops,
      docs/env.md).
    * ``decision_delay_s``: 0 (default): an agent decides in the step it enters the
      edge. > 0: its decision may be held back up to this many seconds (and never past
      half of the shortest time it could need to reach the end of the edge) so that it
      is batched with other agents' decisions in one ``step()``; faster with many agents.
    * ``reward``: name in the reward registry (:mod:`reled_sumo.env.rewards`).
    * ``reward_scale``: seconds per unit of reward; ``arrival_bonus``,
      ``invalid_action_penalty``, ``teleport_penalty``: reward units.
    * ``max_agents``: control only the first N manifest agents (None: all). The other
      agent vehicles stay in the simulation as ordinary uncontrolled traffic.
    * ``agent_selection``: which of the scenario's agent vehicles are controlled (the
      rest drive their own routes as background): ``"first"`` (by departure) or
      ``"busy"`` (those departing at or after ``busy_from_s``, when the network is loaded,
      first; earlier ones only to fill up). ``depart_window=(lo, hi)`` keeps only agents
      departing in ``[lo, hi)``; ``agent_share`` keeps that fraction of them, evenly
      spaced by departure. ``max_agents`` then caps the count (see :func:`select_agents`).
    * ``live_period_s``: simulated seconds between refreshes of the live travel times
      behind the ``live_via_time`` observation feature.
    * ``live_estimate``: how an edge's live travel time is measured (:mod:`reled_sumo.env.live`):
      ``"speed_window"`` (mean speed over the last ``live_window_s`` seconds, read every
      ``live_sample_s``; SUMO's rerouting device does the same) or ``"snapshot"`` (the
      last step's travel time at each refresh, smoothed; fooled by queues at red lights).
    * ``obs_norm``: :class:`ObsNorm` divisors (a dict is accepted by :func:`make_env`).
    * ``sumo_args``: extra SUMO command-line arguments.
    * ``sparse_speeds``: with libsumo, the live estimate's speed readings call SUMO only for edges
      that hold a vehicle (the same numbers, :mod:`reled_sumo.sim.speeds`); set false for a
      scenario whose speed limits change while it runs (variable speed signs).
    """

    backend: str = "libsumo"
    render_mode: str | None = None
    gui_delay_ms: float = 100.0
    seed: int | None = None
    horizon: float | None = None
    step_length: float = 1.0
    decision_lookahead: int = 1
    decision_delay_s: float = 0.0
    loop_guard: bool = False
    reward: str = "travel_time"
    reward_scale: float = 60.0
    arrival_bonus: float = 1.0
    invalid_action_penalty: float = 0.5
    teleport_penalty: float = 5.0
    max_agents: int | None = None
    agent_selection: str = "first"
    depart_window: tuple[float, float] | None = None
    agent_share: float | None = None
    busy_from_s: float = 300.0
    live_period_s: float = 30.0
    live_estimate: str = "speed_window"
    live_window_s: float = LIVE_WINDOW_S
    live_sample_s: float = LIVE_SAMPLE_S  # 1.0 before 2026-12-06 (docs/env.md, "Live times")
    obs_norm: ObsNorm = field(default_factory=ObsNorm)
    sumo_args: tuple[str, ...] = ()
    sparse_speeds: bool = True

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.render_mode not in RENDER_MODES:
            raise ConfigError(f"render_mode must be None or 'human', got {self.render_mode!r}")
        if self.horizon is not None and not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ConfigError(f"horizon must be a positive number of seconds, got {self.horizon!r}")
        if not self.step_length > 0:
            raise ConfigError(f"step_length must be > 0, got {self.step_length}")
        if not (isinstance(self.decision_lookahead, int) and self.decision_lookahead >= 1):
            raise ConfigError(f"decision_lookahead must be an integer >= 1, got {self.decision_lookahead!r}")
        if not (self.reward_scale > 0 and math.isfinite(self.reward_scale)):
            raise ConfigError(f"reward_scale must be > 0, got {self.reward_scale}")
        for name in ("arrival_bonus", "invalid_action_penalty", "teleport_penalty", "gui_delay_ms",
                     "decision_delay_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a non-negative number, got {v!r}")
        if self.max_agents is not None and not (isinstance(self.max_agents, int) and self.max_agents >= 1):
            raise ConfigError(f"max_agents must be a positive integer or None, got {self.max_agents!r}")
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**31):
            raise ConfigError(f"seed must be an integer in [0, 2**31), got {self.seed!r}")
        if isinstance(self.obs_norm, Mapping):
            object.__setattr__(self, "obs_norm", _obs_norm(self.obs_norm))
        if not isinstance(self.obs_norm, ObsNorm):
            raise ConfigError(f"obs_norm must be an ObsNorm or a dict, got {type(self.obs_norm).__name__}")
        if isinstance(self.sumo_args, str) or not all(isinstance(a, str) for a in self.sumo_args):
            raise ConfigError("sumo_args must be a sequence of strings")
        object.__setattr__(self, "sumo_args", tuple(self.sumo_args))
        if self.live_estimate not in LIVE_ESTIMATES:
            raise ConfigError(f"live_estimate must be one of {', '.join(LIVE_ESTIMATES)}, got {self.live_estimate!r}")
        for name in ("live_window_s", "live_sample_s"):
            v = getattr(self, name)
            if not (_finite_number(v) and v > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, got {v!r}")
        if self.live_sample_s > self.live_window_s:
            raise ConfigError(f"live_sample_s ({self.live_sample_s}) must not exceed live_window_s ({self.live_window_s})")
        if self.agent_selection not in AGENT_SELECTIONS:
            raise ConfigError(f"agent_selection must be one of {', '.join(AGENT_SELECTIONS)}, "
                              f"got {self.agent_selection!r}")
        if self.depart_window is not None:
            w = tuple(self.depart_window)
            if len(w) != 2 or not all(_finite_number(x) for x in w) or not 0 <= w[0] < w[1]:
                raise ConfigError(f"depart_window must be (lo, hi) seconds with 0 <= lo < hi, got {self.depart_window!r}")
            object.__setattr__(self, "depart_window", (float(w[0]), float(w[1])))
        if self.agent_share is not None and not (_finite_number(self.agent_share) and 0 < self.agent_share <= 1):
            raise ConfigError(f"agent_share must be a number in (0, 1], got {self.agent_share!r}")
        for name in ("busy_from_s", "live_period_s"):
            v = getattr(self, name)
            if not (_finite_number(v) and v >= (0 if name == "busy_from_s" else 1e-9)):
                raise ConfigError(f"{name} must be a finite number {'>= 0' if name == 'busy_from_s' else '> 0'}, "
                                  f"got {v!r}")

        get_reward(self.reward)  # raises ConfigError for unknown names

    @property
    def gui(self) -> bool:
        return self.render_mode == "human"

    @classmethod
    def from_options(cls, **options: Any) -> "EnvConfig":
        """Build from keyword options; ``gui=True`` means ``render_mode="human"``."""
        opts = dict(options)
        gui = opts.pop("gui", None)
        if gui:
            if opts.get("render_mode") not in (None, "human"):
                raise ConfigError("gui=True conflicts with render_mode=" + repr(opts["render_mode"]))
            opts["render_mode"] = "human"
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ConfigError(f"unknown environment option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "obs_norm" in opts and isinstance(opts["obs_norm"], Mapping):
            opts["obs_norm"] = _obs_norm(opts["obs_norm"])
        if "sumo_args" in opts and opts["sumo_args"] is not None:
            opts["sumo_args"] = tuple(opts["sumo_args"])
        return cls(**opts)

    def replace(self, **changes: Any) -> "EnvConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_agents(agents: Sequence[Any], cfg: EnvConfig) -> tuple[Any, ...]:
    """The controlled agents (objects with ``depart``), in departure order; see :class:`EnvConfig`."""
    pool = sorted(agents, key=lambda a: (a.depart, str(getattr(a, "id", ""))))
    if cfg.depart_window is not None:
        lo, hi = cfg.depart_window
        pool = [a for a in pool if lo <= a.depart < hi]
    if cfg.agent_share is not None and pool:
        n = max(1, int(round(cfg.agent_share * len(pool))))
        pool = [pool[i] for i in np.unique(np.linspace(0, len(pool) - 1, n).round().astype(int))]
    if cfg.agent_selection == "busy":
        late = [a for a in pool if a.depart >= cfg.busy_from_s]
        early = [a for a in pool if a.depart < cfg.busy_from_s][::-1]  # latest first
        pool = late + early
    chosen = pool[: cfg.max_agents] if cfg.max_agents is not None else pool
    return tuple(sorted(chosen, key=lambda a: (a.depart, str(getattr(a, "id", "")))))
