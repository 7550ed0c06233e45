"""``reled bench workers``: decisions/s of parallel rollout workers against one worker, same seeds and policy."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from reled_sumo.env.episode import ActFn, shortest_act
from reled_sumo.training.workers import RolloutWorkerPool, collect_parallel

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WorkerBenchRow:
    n_workers: int
    episodes: int
    decisions: int
    startup_s: float          # pool start (processes, envs); not in the rates
    wall_s: float             # collect_parallel only
    sim_s: float              # simulated seconds over all episodes
    decisions_per_s: float
    sim_s_per_wall_s: float
    speedup: float            # decisions_per_s / that of the single-worker row


def bench_workers(scenario: Any, n_workers_list: Sequence[int] = (1, 2, 4), episodes: int = 8,
                  env_options: Mapping[str, Any] | None = None, act: ActFn | None = None,
                  start_method: str = "spawn", seed: int = 0) -> list[WorkerBenchRow]:
    """Decisions/s and simulated s per wall s of :func:`collect_parallel` with each pool
    size, the same ``episodes`` seeds and a fixed policy (default :func:`shortest_act`)."""
    act = act or shortest_act
    seeds = [seed + e for e in range(episodes)]
    measured = []
    for n in n_workers_list:
        t0 = time.perf_counter()
        with RolloutWorkerPool(scenario, env_options, n, start_method) as pool:
            t1 = time.perf_counter()
            stats = collect_parallel(pool, act, seeds=seeds)
            wall = time.perf_counter() - t1
        decisions = sum(s.decisions for s in stats)
        sim = sum(s.sim_seconds for s in stats)
        measured.append((n, decisions, t1 - t0, wall, sim))
        log.info("bench_workers: %d workers, %d decisions in %.2f s", n, decisions, wall)
    base = next((m for m in measured if m[0] == 1), measured[0])
    base_rate = base[1] / max(base[3], 1e-9)
    return [WorkerBenchRow(n, episodes, d, start, wall, sim, d / max(wall, 1e-9), sim / max(wall, 1e-9),
                           d / max(wall, 1e-9) / base_rate if base_rate else float("nan"))
            for n, d, start, wall, sim in measured]
