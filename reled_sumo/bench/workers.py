"""``reled bench workers``: decisions/s of parallel rollout workers (process pool and/or Ray
actors) against one worker and against the process pool, same seeds and policy."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env.episode import ActFn, shortest_act
from reled_sumo.errors import UserInputError
from reled_sumo.training.ray_workers import RayWorkerPool, connect
from reled_sumo.training.workers import RolloutWorkerPool, collect_parallel

log = logging.getLogger(__name__)
BACKENDS = ("process", "ray")


@dataclass(frozen=True)
class WorkerBenchRow:
    n_workers: int
    episodes: int
    decisions: int
    startup_s: float          # pool start (processes / actors, envs); not in the rates
    wall_s: float             # collect_parallel only
    sim_s: float              # simulated seconds over all episodes
    decisions_per_s: float
    sim_s_per_wall_s: float
    speedup: float            # decisions_per_s / that of the single-worker row of the same backend
    backend: str = "process"
    ratio_to_process: float = float("nan")  # decisions_per_s / that of the process pool with as many workers


def _open(backend: str, n: int, scenario: ScenarioLike, env_options: Mapping[str, Any] | None, start_method: str,
          ray_address: str) -> Any:
    if backend == "ray":
        return RayWorkerPool(scenario, env_options, n, address=ray_address)
    return RolloutWorkerPool(scenario, env_options, n, start_method)


def _measure(backend: str, n: int, seeds: list[int], act: ActFn, open_args: tuple) -> tuple:
    t0 = time.perf_counter()
    with _open(backend, n, *open_args) as pool:
        t1 = time.perf_counter()
        stats = collect_parallel(pool, act, seeds=seeds)
        wall = time.perf_counter() - t1
    decisions = sum(s.decisions for s in stats)
    log.info("bench_workers: %s, %d workers, %d decisions in %.2f s", backend, n, decisions, wall)
    return backend, n, decisions, t1 - t0, wall, sum(s.sim_seconds for s in stats)


def bench_workers(scenario: ScenarioLike, n_workers_list: Sequence[int] = (1, 2, 4), episodes: int = 8,
                  env_options: Mapping[str, Any] | None = None, act: ActFn | None = None,
                  start_method: str = "spawn", seed: int = 0, backends: Sequence[str] = ("process",),
                  ray_address: str = "local") -> list[WorkerBenchRow]:
    """Decisions/s and simulated s per wall s of :func:`collect_parallel` for each backend
    (``process``: :class:`RolloutWorkerPool`, ``ray``: Ray actors) and pool size, the same
    ``episodes`` seeds and a fixed policy (default :func:`shortest_act`). Backends alternate
    per pool size, so a change of machine load hits both alike. With ``ray``, Ray is started
    (``local``) or joined once for the whole run; its start is in no row."""
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise UserInputError(f"backends must be among {', '.join(BACKENDS)}, got {', '.join(backends) or 'none'}")
    act = act or shortest_act
    seeds = [seed + e for e in range(episodes)]
    owns_ray = False
    if "ray" in backends:
        owns_ray = connect(ray_address, max(n_workers_list))
    try:
        open_args = (scenario, env_options, start_method, ray_address)
        measured = [_measure(b, n, seeds, act, open_args) for n in n_workers_list for b in backends]
    finally:
        if owns_ray:
            import ray  # lazy: ray

            ray.shutdown()
    return _rows(measured, episodes)


def _rows(measured: list[tuple], episodes: int) -> list[WorkerBenchRow]:
    rate = {(b, n): d / max(wall, 1e-9) for b, n, d, _, wall, _ in measured}
    rows = []
    for b, n, d, start, wall, sim in measured:
        base = next((m for m in measured if m[0] == b and m[1] == 1), next(m for m in measured if m[0] == b))
        proc = rate.get(("process", n), float("nan"))
        rows.append(WorkerBenchRow(n, episodes, d, start, wall, sim, rate[(b, n)], sim / max(wall, 1e-9),
                                   rate[(b, n)] / rate[(b, base[1])] if rate[(b, base[1])] else float("nan"),
                                   b, rate[(b, n)] / proc if proc else float("nan")))
    return rows
