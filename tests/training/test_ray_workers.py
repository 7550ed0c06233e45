"""Rollout workers as Ray actors on a real local Ray cluster: same results as the process
pool, the same clear errors, `reled train --ray-address`. Skipped where Ray is not installed."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import torch as th  # noqa: E402

from reled_sumo.bench.workers import bench_workers  # noqa: E402
from reled_sumo.errors import SimulationDiedError  # noqa: E402
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer  # noqa: E402
from reled_sumo.training import checkpoint as ck  # noqa: E402
from reled_sumo.training.config import load_config  # noqa: E402
from reled_sumo.training.ray_workers import RayWorkerPool  # noqa: E402
from reled_sumo.training.trainer import Trainer  # noqa: E402
from reled_sumo.training.workers import (  # noqa: E402
    RolloutWorkerError, RolloutWorkerPool, WorkerSimulationDiedError, collect_parallel,
)
from rollout_policies import random_act, value_fn  # noqa: E402
from test_workers import BUFFER_FIELDS, HORIZON, SEEDS, _alive, _children, shortest_like_act  # noqa: E402

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def _all_gone(pids, within_s=15.0) -> bool:
    """ray.kill is asynchronous: the actors' processes end shortly after close()."""
    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _collect(pool, n_agents):
    buf = MultiAgentRolloutBuffer(20_000, pool.obs_dim, pool.n_actions, n_agents)
    return buf, collect_parallel(pool, shortest_like_act, value_fn, buf, SEEDS)


def test_ray_actors_give_the_process_pools_buffer(kotka_small, local_ray):
    with RolloutWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2) as pool:
        n = len(pool.possible_agents)
        proc_buf, proc_stats = _collect(pool, n)
    with RayWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2, address="local") as rpool:
        assert rpool.possible_agents == pool.possible_agents and rpool.n_actions == pool.n_actions
        assert len(set(rpool.pids)) == 2 and os.getpid() not in rpool.pids  # one process per actor
        ray_buf, ray_stats = _collect(rpool, n)
    assert ray.is_initialized()  # a Ray this process started before is left running
    assert ray_buf.pos == proc_buf.pos > 100
    for name in BUFFER_FIELDS:
        assert np.array_equal(getattr(ray_buf, name)[: ray_buf.pos], getattr(proc_buf, name)[: proc_buf.pos],
                              equal_nan=True), name
    for a, b in zip(proc_stats, ray_stats):
        assert np.array_equal(a.returns, b.returns) and a.decisions == b.decisions and a.paths == b.paths
    assert _all_gone(rpool.pids)  # close() ended the actors


def test_a_killed_actor_is_a_clear_error_and_the_pool_closes(kotka_small, local_ray):
    with pytest.raises(WorkerSimulationDiedError, match=r"rollout worker 1: Ray actor \(pid \d+\) died") as ei:
        with RayWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2) as pool:
            pids = pool.pids
            os.kill(pids[1], signal.SIGKILL)
            collect_parallel(pool, random_act(0), seeds=[1, 2])
    assert isinstance(ei.value, SimulationDiedError) and ei.value.worker == 1
    assert _all_gone(pids)


def test_a_killed_sumo_comes_back_as_the_workers_failure(kotka_small, local_ray):
    with RayWorkerPool(kotka_small.path, {"horizon": HORIZON, "backend": "traci"}, n_workers=2) as pool:
        pool.reset({0: 1, 1: 2})
        sumo = _children(pool.pids[1])
        assert len(sumo) == 1
        os.kill(sumo[0], signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(WorkerSimulationDiedError, match="rollout worker 1") as ei:
            for _ in range(50):
                pool.step({0: {}, 1: {}})
        assert "SimulationDiedError" in str(ei.value) and ei.value.remote_traceback
        assert pool.step({0: {}})[0].sim_time > 0  # the other actor goes on
        assert pool.reset({1: 3})[1].sim_time >= 0  # and the failed one starts a new SUMO
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset({0: 1})


def test_an_actor_that_cannot_build_its_env_fails_the_start(tmp_path, local_ray):
    with pytest.raises(RolloutWorkerError, match="rollout worker 0"):
        RayWorkerPool(tmp_path / "no_such_scenario", {}, n_workers=1)


def _train(scenario, run_dir, **extra):
    cfg = load_config(CI, {"scenario": str(scenario.path), "algo": "ippo", "env.max_agents": 5,
                           "env.horizon": 200, "total_decisions": 80, "episodes_per_update": 2,
                           "rollout_workers": 2, "hpo.n_epochs": 1, **extra})
    result = Trainer(cfg, run_dir=run_dir).run()
    return result, ck.load_checkpoint(run_dir)


def test_training_on_ray_equals_training_on_the_process_pool(kotka_small, tmp_path, local_ray):
    proc, a = _train(kotka_small, tmp_path / "proc")
    on_ray, b = _train(kotka_small, tmp_path / "ray", ray_address="auto")  # joins the fixture's Ray
    assert (on_ray.updates, on_ray.decisions, on_ray.episodes) == (proc.updates, proc.decisions, proc.episodes)
    assert proc.updates >= 1
    for name, p in a["hpo"]["policy"].items():
        assert th.equal(p, b["hpo"]["policy"][name]), name


def test_bench_workers_measures_both_backends_as_ratios(kotka_small, local_ray):
    rows = bench_workers(kotka_small.path, (1, 2), episodes=2, env_options={"horizon": 100},
                         backends=("process", "ray"), ray_address="local")
    assert [(r.backend, r.n_workers) for r in rows] == [("process", 1), ("ray", 1), ("process", 2), ("ray", 2)]
    assert len({r.decisions for r in rows}) == 1 and rows[0].decisions > 0  # same seeds, same fixed policy
    assert all(r.ratio_to_process == 1.0 for r in rows if r.backend == "process")
    for proc, on_ray in ((rows[0], rows[1]), (rows[2], rows[3])):
        assert on_ray.ratio_to_process == pytest.approx(on_ray.decisions_per_s / proc.decisions_per_s)
    assert rows[1].speedup == 1.0 and rows[3].speedup == pytest.approx(rows[3].decisions_per_s
                                                                        / rows[1].decisions_per_s)
    assert ray.is_initialized()  # it joined the running Ray and left it running


@pytest.mark.slow  # two short training runs through the CLI (~15-45 s here)
def test_cli_train_on_ray_then_resume_on_the_process_pool(kotka_small, tmp_path, local_ray, monkeypatch):
    import sys

    import typer
    from typer.testing import CliRunner

    from reled_sumo.cli.train import train_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    out = tmp_path / "run"
    common = ["train", "--config", str(CI), "--scenario", str(kotka_small.path), "--out", str(out), "--agents", "4",
              "--algo", "ippo", "--episodes-per-update", "2", "--workers", "2"]
    res = CliRunner().invoke(app, [*common, "--steps", "60", "--ray-address", "auto"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "ray_address: auto" in (out / "config.yaml").read_text()
    monkeypatch.setitem(sys.modules, "ray", None)  # resuming without Ray: `none` picks the process pool
    res = CliRunner().invoke(app, [*common, "--steps", "200", "--resume"], catch_exceptions=False)
    assert res.exit_code == 2 and "needs Ray" in res.output  # the run's own config asks for Ray
    res = CliRunner().invoke(app, [*common, "--steps", "200", "--resume", "--ray-address", "none"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
