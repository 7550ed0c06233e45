"""Evaluate policies, trained runs and references on a scenario's agent vehicles.

Every method is measured the same way (docs/evaluation.md): one episode per seed,
the same agents (the env's ``possible_agents``), the same horizon, and per seed

* ``mean_travel_time`` / ``p95_travel_time``: over the agents that **arrived** within
  the horizon (departure -> arrival, seconds). Agents that did not arrive are *not* in
  these numbers; they lower ``arrival_rate`` and are counted separately as
  ``unfinished`` (still driving at the horizon), ``teleported`` and ``not_departed``.
  ``censored_travel_time`` adds every departed agent with its time in the network up
  to the horizon / its first teleport (a lower bound of its true travel time).
* ``arrival_rate``: arrived agents / all agents.
* ``mean_waiting_time``: mean over departed agents of their accumulated waiting time.
* ``teleports``: agents whose trip ended in a teleport.
* ``mean_return``: mean over agents of the episode return under the env's reward.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError, RelEdError
from reled_sumo.training.rollout import ActFn, run_episode
from reled_sumo.training.stats import Estimate, mean_ci
from reled_sumo.optim.threads import torch_threads

log = logging.getLogger(__name__)

EVAL_SEED_BASE = 10_000  # evaluation seeds 10000, 10001, ... stay clear of training seeds
METRICS = ("mean_travel_time", "p95_travel_time", "arrival_rate", "mean_waiting_time", "teleports", "mean_return")
RESULTS_FILE = "eval_results.json"


def eval_seeds(seeds: int | Iterable[int]) -> tuple[int, ...]:
    """``n`` -> (EVAL_SEED_BASE, ..., EVAL_SEED_BASE + n - 1); an iterable is used as given."""
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ConfigError(f"need at least one evaluation seed, got {seeds}")
        return tuple(EVAL_SEED_BASE + i for i in range(int(seeds)))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ConfigError("need at least one evaluation seed")
    return out


# ------------------------------------------------------------------ data types
@dataclass(frozen=True, eq=False)
class EpisodeOutcome:
    """Per-agent outcome of one episode (index = position in the agent list)."""

    travel_time: np.ndarray  # [N] s; arrived: to arrival, others: to horizon / teleport; NaN: never departed
    arrived: np.ndarray  # [N] bool
    teleported: np.ndarray  # [N] bool
    departed: np.ndarray  # [N] bool
    waiting_time: np.ndarray  # [N] s; NaN: never departed
    returns: np.ndarray  # [N]
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class SeedMetrics:
    """The metrics of one episode (one seed). See the module doc for the definitions."""

    seed: int
    n_agents: int
    mean_travel_time: float
    p95_travel_time: float
    arrival_rate: float
    mean_waiting_time: float
    teleports: int
    mean_return: float
    unfinished: int
    not_departed: int
    censored_travel_time: float
    wall_seconds: float = field(compare=False)
    travel_times: tuple[float, ...] = field(repr=False, default=())  # arrived agents' travel times

    @classmethod
    def from_outcome(cls, seed: int, o: EpisodeOutcome) -> "SeedMetrics":
        n = int(o.arrived.size)
        tt = o.travel_time[o.arrived]
        dep = o.departed
        return cls(
            seed=int(seed), n_agents=n,
            mean_travel_time=_mean(tt),
            p95_travel_time=float(np.percentile(tt, 95)) if tt.size else math.nan,
            arrival_rate=float(o.arrived.mean()) if n else math.nan,
            mean_waiting_time=_mean(o.waiting_time[dep & np.isfinite(o.waiting_time)]),
            teleports=int(o.teleported.sum()),
            mean_return=_mean(o.returns),
            unfinished=int((dep & ~o.arrived & ~o.teleported).sum()),
            not_departed=int((~dep).sum()),
            censored_travel_time=_mean(o.travel_time[dep & np.isfinite(o.travel_time)]),
            wall_seconds=float(o.wall_seconds),
            travel_times=tuple(float(x) for x in tt),
        )


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()) if x.size else math.nan


@dataclass(frozen=True)
class EvalResult:
    """One method evaluated on one scenario over several seeds."""

    method: str
    scenario: str
    scenario_hash: str
    per_seed: tuple[SeedMetrics, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(s.seed for s in self.per_seed)

    def values(self, metric: str) -> np.ndarray:
        return np.array([getattr(s, metric) for s in self.per_seed], dtype=np.float64)

    def estimate(self, metric: str, confidence: float = 0.95) -> Estimate:
        """Mean and Student-t CI of a per-seed metric across the seeds."""
        return mean_ci(self.values(metric), confidence)

    def summary(self, confidence: float = 0.95) -> dict[str, Estimate]:
        return {m: self.estimate(m, confidence) for m in METRICS}

    def travel_times(self) -> np.ndarray:
        """All arrived agents' travel times, pooled over the seeds."""
        return np.array([t for s in self.per_seed for t in s.travel_times], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["meta"] = _jsonable(dict(self.meta))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EvalResult":
        seeds = tuple(SeedMetrics(**{**s, "travel_times": tuple(s.get("travel_times", ()))}) for s in d["per_seed"])
        return cls(d["method"], d["scenario"], d["scenario_hash"], seeds, dict(d.get("meta", {})))


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return repr(x)


def save_results(results: Sequence[EvalResult], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps([r.to_dict() for r in results], indent=1, allow_nan=True) + "\n")
    return p


def load_results(path: str | Path) -> list[EvalResult]:
    return [EvalResult.from_dict(d) for d in json.loads(Path(path).read_text())]


# ------------------------------------------------------------- env episodes
class OutcomeRecorder:
    """Wraps a routing env; records every agent's rewards and final info while it is stepped.

    Anything that drives the env (``run_episode``, ``execute_routes``) can be given the
    recorder instead of the env; attributes it does not define go to the env.
    """

    def __init__(self, env):
        self._env = env
        self._index = {a: i for i, a in enumerate(env.possible_agents)}
        self._clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def _clear(self) -> None:
        n = len(self._index)
        self._tt = np.full(n, np.nan)
        self._arr = np.zeros(n, dtype=bool)
        self._tel = np.zeros(n, dtype=bool)
        self._dep = np.zeros(n, dtype=bool)
        self._wait = np.full(n, np.nan)
        self._ret = np.zeros(n)
        self._t0 = time.perf_counter()

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None):
        self._clear()
        obs, infos = self._env.reset(seed=seed, options=options)
        self._seen(obs)
        return obs, infos

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self._env.step(actions)
        self._seen(obs)
        idx = self._index
        for a, r in rewards.items():
            self._ret[idx[a]] += float(r)
            if terms.get(a) or truncs.get(a):
                self._done(idx[a], bool(terms.get(a)), infos.get(a, {}))
        return obs, rewards, terms, truncs, infos

    def edge_travel_times(self) -> np.ndarray:
        """The env's measured edge travel times; all NaN ("not measured") if the env has none."""
        fn = getattr(self._env, "edge_travel_times", None)
        if fn is not None:
            return fn()
        return np.full(self._env.scenario.graph.num_edges, np.nan)

    def _seen(self, obs) -> None:
        for a in obs:
            self._dep[self._index[a]] = True

    def _done(self, i: int, arrived: bool, info: Mapping[str, Any]) -> None:
        self._dep[i] = True
        self._arr[i] = arrived
        self._tel[i] = info.get("done_reason") == "teleported"
        self._tt[i] = float(info.get("travel_time", np.nan))
        self._wait[i] = float(info.get("waiting_time", np.nan))

    def outcome(self) -> EpisodeOutcome:
        return EpisodeOutcome(self._tt.copy(), self._arr.copy(), self._tel.copy(), self._dep.copy(),
                              self._wait.copy(), self._ret.copy(), time.perf_counter() - self._t0)


EpisodeFn = Callable[[Any, int], None]  # (recorder, seed) -> plays one episode


def clean_env_options(env_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Env options for evaluation: headless, no GUI."""
    opts = dict(env_options or {})
    opts.pop("gui", None)
    opts["render_mode"] = None
    return opts


def run_env_episodes(scenario: Any, seeds: Sequence[int], env_options: Mapping[str, Any] | None,
                     episode: EpisodeFn, method: str, meta: Mapping[str, Any] | None = None) -> EvalResult:
    """Play ``episode`` once per seed in one env and collect the metrics."""
    from reled_sumo.env import make_env

    env = make_env(scenario, **clean_env_options(env_options))
    try:
        rec = OutcomeRecorder(env)
        per_seed = []
        for seed in seeds:
            episode(rec, int(seed))
            m = SeedMetrics.from_outcome(seed, rec.outcome())
            log.info("%s seed %d: travel time %.1f s, arrival %.2f", method, seed, m.mean_travel_time, m.arrival_rate)
            per_seed.append(m)
        sc = env.scenario
    finally:
        env.close()
    info = {"scenario_path": str(sc.path), "env": clean_env_options(env_options), "n_agents": len(env.possible_agents)}
    return EvalResult(method, sc.name, sc.scenario_hash, tuple(per_seed), {**info, **dict(meta or {})})


def evaluate_policy(scenario: Any, act_fn: ActFn, seeds: int | Iterable[int] = 3,
                    env_options: Mapping[str, Any] | None = None, method: str = "policy",
                    meta: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate ``act_fn(obs[B,D], agent_index[B], mask[B,K]) -> (actions, values, log_probs)``."""

    def episode(rec, seed):
        run_episode(rec, act_fn, seed=seed)

    return run_env_episodes(scenario, eval_seeds(seeds), env_options, episode, method, meta)


def policy_act_fn(policy, deterministic: bool = True) -> ActFn:
    """An :data:`ActFn` from an ``optim.MultiAgentPolicy`` (greedy actions by default)."""

    def act(obs, agent_index, mask):
        return policy.act(obs, agent_index, mask, deterministic)

    return act


def evaluate_loaded(policy, meta: Mapping[str, Any], seeds: int | Iterable[int] = 3, label: str | None = None,
                    env_overrides: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate a loaded policy on the scenario and env options recorded in its run ``meta``."""
    scenario = meta.get("scenario_path") or meta.get("scenario")
    if not scenario:
        raise ConfigError("the run's metadata names no scenario")
    env_opts = {**dict(meta.get("env") or {}), **dict(env_overrides or {})}
    algo = str(meta.get("algo", "policy"))
    info = {"algo": algo, "train_seed": meta.get("seed"), "kind": "run"}
    with torch_threads(1):  # tiny networks beside SUMO: more threads only add overhead
        return evaluate_policy(scenario, policy_act_fn(policy, True), seeds, env_opts,
                               method=label or algo, meta=info)


def evaluate_run(run_dir: str | Path, seeds: int | Iterable[int] = 3,
                 env_overrides: Mapping[str, Any] | None = None) -> EvalResult:
    """Evaluate the trained policy of ``run_dir`` with deterministic (greedy) actions."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"run folder {run} does not exist" if not run.exists() else
                          f"{run} is a file, not a run folder; give the folder that holds checkpoint.pt")
    try:
        from reled_sumo.training.checkpoint import load_policy  # the trainer's loader
    except ImportError as exc:
        raise RelEdError(f"cannot evaluate {run}: no checkpoint loader available ({exc})") from exc
    policy, meta = load_policy(run)
    if hasattr(policy, "eval"):
        policy.eval()
    meta = {**meta, "scenario_path": meta.get("scenario_path") or _run_scenario_path(run)}
    res = evaluate_loaded(policy, meta, seeds, label=f"{meta.get('algo', 'policy')}:{run.name}",
                          env_overrides=env_overrides)
    if meta.get("scenario_hash") and meta["scenario_hash"] != res.scenario_hash:
        log.warning("%s was trained on scenario hash %s, evaluated on %s", run, meta["scenario_hash"],
                    res.scenario_hash)
    return EvalResult(res.method, res.scenario, res.scenario_hash, res.per_seed, {**res.meta, "run_dir": str(run)})


def _run_scenario_path(run: Path) -> str | None:
    """The scenario folder a run recorded in ``<run>/scenario.json`` (if it still exists)."""
    try:
        path = json.loads((run / "scenario.json").read_text()).get("path")
    except (OSError, ValueError, AttributeError):
        return None
    return path if path and (Path(path) / "scenario.json").exists() else None


def evaluate_reference(name: str, scenario: Any, seeds: int | Iterable[int] = 3,
                       env_options: Mapping[str, Any] | None = None, config: Any = None) -> EvalResult:
    """Evaluate a non-learning reference (see :mod:`reled_sumo.training.references`)."""
    from reled_sumo.training.references import run_reference

    return run_reference(name, scenario, eval_seeds(seeds), env_options, config)
