"""``reled bench train``: what learning costs on top of the environment (docs/benchmarks.md).

Two measurements, each against a reference measured in the same process:

* :func:`bench_train_throughput` -- decisions/s of a short :class:`Trainer` run (``ippo`` and/or
  ``reled``): end to end (the trainer's own ``time/decisions_per_s``: rollouts + SED refreshes +
  DTW + PPO epochs) and rollouts only (``rollout/decisions_per_s``, pooled over the updates),
  against **env-only** decisions/s with the same :class:`EnvConfig`, the same episode seeds and
  the same policy architecture doing the same batched forward per env step (``policy.act``, fresh
  weights, no buffer, no learning). The ``shortest`` reference (argmin free-flow ``via_time``, no
  network) is measured too, for context (its routes are shorter, so fewer decisions per simulated
  second: not an upper bound of decisions/s). Each env-only mode plays one untimed warm-up
  episode, then is timed before and after the training runs (pooled). ``ratio_to_env`` = rate /
  env-only (fixed policy) rate; goal >= 0.7. ``cpu_s``: CPU seconds (this process and its ended
  children, e.g. the ``overlap_rollouts`` worker) of the env-only episodes and of a whole training run
  (``train-e2e+setup``); on a shared machine it is steadier than wall time.
* :func:`bench_ensemble` -- per-call time of a :class:`SharedPolicy` vs a :class:`PerAgentPolicy`
  (one batched ensemble) with N agents on a batch of B decisions: the rollout forward
  (``no_grad``, sampling) and a training forward + backward (``evaluate_actions`` + PPO-like
  loss), timed with ``torch.utils.benchmark`` on 1 torch thread (median of blocked runs).

Both return plain row dicts (JSON-friendly); the CLI prints them.
"""
from __future__ import annotations

import logging
import resource
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch as th
from torch.utils import benchmark

from reled_sumo.env import make_env
from reled_sumo.env.episode import run_episode, shortest_act
from reled_sumo.env.make import load_scenario
from reled_sumo.env.observation import N_CAND, N_OWN, obs_size
from reled_sumo.errors import ConfigError
from reled_sumo.optim.policy import PolicyConfig, build_policy
from reled_sumo.optim.threads import torch_threads
from reled_sumo.training.algos import episode_seed
from reled_sumo.training.config import TrainConfig, load_config
from reled_sumo.training.trainer import Trainer

log = logging.getLogger(__name__)

THROUGHPUT_COLUMNS = ("mode", "algo", "workers", "overlap", "episode_workers", "agents", "episodes", "decisions", "wall_s",
                      "decisions_per_s", "ratio_to_env", "cpu_s")
ENSEMBLE_COLUMNS = ("agents", "batch", "shared_fwd_us", "per_agent_fwd_us", "fwd_ratio", "shared_train_us",
                    "per_agent_train_us", "train_ratio", "shared_act_us", "shared_torch_act_us", "act_speedup")
GOAL_RATIO = 0.7


@dataclass(frozen=True)
class TrainBench:
    """Options of :func:`bench_train_throughput`."""

    scenario: str
    agents: int | None = 20
    steps: int = 5000
    algos: tuple[str, ...] = ("ippo", "reled")
    env_episodes: int = 2
    seed: int = 0
    config: str | None = None  # TrainConfig YAML (default: the defaults, eval_every 0)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    workers: tuple[int, ...] = (0,)  # rollout_workers of the training runs (0 = in-process)
    overlap: tuple[bool, ...] = (False,)  # overlap_rollouts of the training runs (with 0 workers only)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.env_episodes < 1:
            raise ConfigError("steps and env_episodes must be >= 1")
        if not self.workers or any(w < 0 for w in self.workers):
            raise ConfigError("workers must be counts >= 0, e.g. 0,2")
        if not self.overlap or (any(self.overlap) and any(self.workers)):
            raise ConfigError("overlap (0 and/or 1) runs with --workers 0 only")
        bad = [a for a in self.algos if a not in ("reled", "ippo", "mappo", "bc")]
        if bad or not self.algos:
            raise ConfigError(f"unknown algo(s) {bad}; choose from reled, ippo, mappo, bc")


def train_config(b: TrainBench, algo: str, workers: int = 0, overlap: bool = False) -> TrainConfig:
    """The run's config; with several worker counts every run collects ``max(workers)`` episodes
    per update (at least the configured number), so the runs differ only in where SUMO runs."""
    ov = {"scenario": b.scenario, "algo": algo, "seed": b.seed, "total_decisions": b.steps,
          "env.max_agents": b.agents, "eval_every": 0 if b.config is None else None, **dict(b.overrides)}
    cfg = replace(load_config(b.config, ov), overlap_rollouts=overlap)
    if max(b.workers) > 0:
        cfg = replace(cfg, rollout_workers=workers,
                      episodes_per_update=max(cfg.episodes_per_update, max(b.workers)))
    return cfg


# ---------------------------------------------------------------- env only
def _fixed_policy(cfg: TrainConfig, env):
    th.manual_seed(cfg.seed)
    pc = cfg.hpo.policy_config(env.candidate_layout)
    return build_policy(pc, len(env.possible_agents), int(env.obs_dim), int(env.K)).eval()


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed_episodes(env, act, cfg: TrainConfig, episodes: int) -> tuple[int, float, float]:
    run_episode(env, act, seed=episode_seed(cfg.seed, 0))  # warm-up, untimed (first SUMO load, lazy init)
    decisions, t0, c0 = 0, time.perf_counter(), cpu_seconds()
    for e in range(episodes):
        decisions += run_episode(env, act, seed=episode_seed(cfg.seed, e)).decisions
    return decisions, time.perf_counter() - t0, cpu_seconds() - c0


def env_only_rows(cfg: TrainConfig, episodes: int) -> list[dict[str, Any]]:
    """Env driven by a fixed (untrained) policy of the run's architecture, then by ``shortest``."""

    env = make_env(load_scenario(cfg.scenario), config=cfg.env)
    try:
        policy = _fixed_policy(cfg, env)
        acts = (("env-fixed-policy", policy.act), ("env-shortest", shortest_act))
        rows = []
        for mode, act in acts:
            dec, wall, cpu = _timed_episodes(env, act, cfg, episodes)
            rows.append(_row(mode, "-", len(env.possible_agents), episodes, dec, wall, cpu=cpu))
            log.info("%s: %d decisions in %.2f s", mode, dec, wall)
        return rows
    finally:
        env.close()


def _row(mode: str, algo: str, agents: int, episodes: int, decisions: int, wall: float,
         workers: int = 0, cpu: float = float("nan"), overlap: bool = False,
         episode_workers: int = 0) -> dict[str, Any]:
    """One row; ``cpu``: CPU seconds of the same span (NaN where the span is not a process's)."""
    return {"mode": mode, "algo": algo, "workers": workers, "overlap": int(overlap),
            "episode_workers": episode_workers, "agents": agents,
            "episodes": episodes, "decisions": int(decisions), "wall_s": float(wall),
            "decisions_per_s": decisions / max(wall, 1e-9), "cpu_s": float(cpu)}


# ---------------------------------------------------------------- training
class _Collect:
    """Trainer callback keeping every :class:`UpdateReport`."""

    def __init__(self):
        self.reports: list = []

    def on_start(self, trainer) -> None: ...

    def on_phase(self, text: str) -> None:
        log.info("%s", text)

    def on_sed_round(self, metrics) -> None: ...

    def on_update(self, report) -> None:
        self.reports.append(report)

    def on_end(self, result) -> None: ...


def rollout_rate(reports: Sequence[Any]) -> tuple[int, float]:
    """(decisions, rollout seconds) pooled over updates, from each update's decisions and rollout rate."""
    prev, dec, secs = 0, 0, 0.0
    for r in reports:
        n = r.decisions - prev
        prev = r.decisions
        if r.rollout_decisions_per_s > 0:
            dec, secs = dec + n, secs + n / r.rollout_decisions_per_s
    return dec, secs


def train_rows(cfg: TrainConfig, run_dir: Path) -> list[dict[str, Any]]:
    cb = _Collect()
    t0, c0 = time.perf_counter(), cpu_seconds()
    res = Trainer(cfg, run_dir=run_dir, callback=cb).run()  # type: ignore[arg-type]  # a duck-typed TrainCallback
    total, cpu = time.perf_counter() - t0, cpu_seconds() - c0  # the worker processes have ended: counted
    agents = cfg.env.max_agents or 0
    dec, secs = rollout_rate(cb.reports)
    w, ov, ew = cfg.rollout_workers, cfg.overlap_rollouts, cfg.resolved_episode_workers()
    return [_row("train-rollout", cfg.algo, agents, res.episodes, dec, secs, w, overlap=ov, episode_workers=ew),
            _row("train-e2e", cfg.algo, agents, res.episodes, res.decisions, res.wall_seconds, w, overlap=ov,
                 episode_workers=ew),
            _row("train-e2e+setup", cfg.algo, agents, res.episodes, res.decisions, total, w, cpu, ov, ew)]


def _env_pass(cfg: TrainConfig, episodes: int) -> list[dict[str, Any]]:
    with torch_threads(cfg.torch_threads):
        return env_only_rows(cfg, episodes)


def _pool(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two passes of the same env-only mode as one row (decisions and wall time summed)."""
    return _row(a["mode"], a["algo"], a["agents"], a["episodes"] + b["episodes"], a["decisions"] + b["decisions"],
                a["wall_s"] + b["wall_s"], cpu=a["cpu_s"] + b["cpu_s"])


def bench_train_throughput(b: TrainBench, out: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows: env-fixed-policy, env-shortest, then per algo and worker count train-rollout /
    train-e2e / train-e2e+setup (setup includes starting the worker processes).

    The env-only modes run ``env_episodes`` timed episodes before and again after the training
    runs (pooled: machine drift hits both sides); ``ratio_to_env`` divides by the
    env-fixed-policy rate. ``out``: keep the run folders there
    (default: a temporary folder, removed afterwards).
    """
    cfgs = [train_config(b, a, w, o) for a in b.algos for w in b.workers for o in b.overlap]
    before = _env_pass(cfgs[0], b.env_episodes)
    trained = []
    with tempfile.TemporaryDirectory(prefix="reled-bench-train-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        for cfg in cfgs:
            trained += train_rows(cfg, root / f"{cfg.algo}-w{cfg.rollout_workers}-o{int(cfg.overlap_rollouts)}-"
                                             f"s{cfg.seed}-{time.strftime('%H%M%S')}")
    rows = [_pool(x, y) for x, y in zip(before, _env_pass(cfgs[0], b.env_episodes))] + trained
    ref = rows[0]["decisions_per_s"]
    agents = rows[0]["agents"]
    for r in rows:
        r["agents"] = agents
        r["ratio_to_env"] = r["decisions_per_s"] / ref if ref > 0 else float("nan")
    return rows


# ---------------------------------------------------------------- ensemble cost
def _inputs(n: int, batch: int, k: int, seed: int = 0):
    g = th.Generator().manual_seed(seed)
    obs = th.randn(batch, obs_size(k), generator=g)
    idx = th.randint(0, n, (batch,), generator=g)
    mask = th.rand(batch, k, generator=g) < 0.7
    mask[:, 0] = True
    actions = th.randint(0, k, (batch,), generator=g)
    actions = th.where(mask[th.arange(batch), actions], actions, th.zeros_like(actions))
    return obs, idx, mask, actions


def _train_step(policy, obs, idx, mask, actions) -> None:
    values, logp, ent = policy.evaluate_actions(obs, idx, actions, mask)
    loss = -logp.mean() + 0.5 * values.pow(2).mean() - 0.01 * ent.mean()
    policy.zero_grad(set_to_none=True)
    loss.backward()


def _rollout_step(policy, obs, idx, mask) -> None:
    with th.no_grad():
        policy(obs, idx, mask)


def _act_step(act, obs: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> None:
    act(obs, idx, mask)


def time_call(fn, min_run_time: float = 0.5) -> float:
    """Median seconds of one ``fn()`` (torch.utils.benchmark, 1 thread, warm-up included)."""

    for _ in range(5):  # warm-up (lazy init, allocator)
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=1)
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def bench_ensemble(agents: Sequence[int] = (10, 50, 100), batch: int | None = None, k: int = 4,
                   hidden: tuple[int, ...] = (64, 64), min_run_time: float = 0.5) -> list[dict[str, Any]]:
    """One row per N: µs per call of shared vs per-agent, rollout forward and training step (B = N if None)."""

    rows = []
    with torch_threads(1):  # and one BLAS thread, as in training
        for n in agents:
            b = int(batch or n)
            obs, idx, mask, actions = _inputs(n, b, k)
            us: dict[str, float] = {}
            for kind in ("shared", "per-agent"):
                th.manual_seed(0)
                pc = PolicyConfig(kind, hidden, hidden, candidate_layout=(N_OWN, N_CAND))
                pol = build_policy(pc, n, obs_size(k), k)
                key = kind.replace("-", "_")
                us[f"{key}_fwd_us"] = 1e6 * time_call(partial(_rollout_step, pol, obs, idx, mask), min_run_time)
                us[f"{key}_train_us"] = 1e6 * time_call(partial(_train_step, pol, obs, idx, mask, actions),
                                                        min_run_time)
                if kind == "shared":  # the rollout call as the trainer makes it: numpy copy vs torch
                    arrays = (obs.numpy(), idx.numpy(), mask.numpy())
                    us["shared_act_us"] = 1e6 * time_call(partial(_act_step, pol.act, *arrays), min_run_time)
                    us["shared_torch_act_us"] = 1e6 * time_call(partial(_act_step, pol.torch_act, *arrays),
                                                                min_run_time)
            rows.append({"agents": int(n), "batch": b, **us,
                         "fwd_ratio": us["per_agent_fwd_us"] / us["shared_fwd_us"],
                         "train_ratio": us["per_agent_train_us"] / us["shared_train_us"],
                         "act_speedup": us["shared_torch_act_us"] / us["shared_act_us"]})
            log.info("ensemble N=%d B=%d: %s", n, b, rows[-1])
    return rows


__all__ = ["ENSEMBLE_COLUMNS", "GOAL_RATIO", "THROUGHPUT_COLUMNS", "TrainBench", "bench_ensemble",
           "bench_train_throughput", "env_only_rows", "rollout_rate", "time_call", "train_config"]
