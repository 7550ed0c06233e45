"""The training loop behind ``reled train`` (docs/training.md).

Per update: (refresh the SED demonstrations if due) -> collect ``episodes_per_update``
episodes with :func:`reled_sumo.env.episode.run_episode`, or on a pool of
``rollout_workers`` SUMO processes with :func:`reled_sumo.training.workers.collect_parallel`
(one batched policy forward per round over all workers) -> DTW between each agent's
latest path and its demonstration -> expert weights -> per-agent GAE ->
:meth:`HybridPPO.train` -> log, snapshot, checkpoint. Progress goes to a
:class:`TrainCallback`; nothing here prints.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch as th

from reled_sumo.env.make import load_scenario, make_env
from reled_sumo.env.routing_env import RoutingParallelEnv
from stable_baselines3.common.logger import Logger
from reled_sumo.env.meter import EdgeTimeMeter
from reled_sumo.errors import ConfigError, UserInputError
from reled_sumo.deploy.record import RunRecord
from reled_sumo.experts.factory import make_expert
from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.experts.sed import demo_routes, plan_travel_time, refine
from reled_sumo.optim.dtw import timed_path_dtw
from reled_sumo.optim.expert import ExpertBatch
from reled_sumo.optim.hpo import HybridPPO
from reled_sumo.optim.weights import calibrate_d_scale
from reled_sumo.training import checkpoint as ck
from reled_sumo.training.algos import (
    ExpertData, GrowingRolloutBuffer, algo_spec, demos_to_expert, episode_seed, eval_seed,
)
from reled_sumo.training.checkpoint import open_logger, scenario_label
from reled_sumo.training.config import TrainConfig, dump_config, read_yaml
from reled_sumo.training.mappo import CentralCriticPolicy, GlobalStateEnv, global_state_dim
from reled_sumo.env.episode import EpisodeStats, run_episode
from reled_sumo.safe_write import atomic_write
from reled_sumo.training.rundir import RunDir
from reled_sumo.training.reports import RunState, TrainCallback, TrainResult, UpdateReport
from reled_sumo.training.overlap import (
    EpisodeSplitter, PrefetchWorker, collect_overlapped, open_prefetch, open_splitter, seeded_episodes,
)
from reled_sumo.training.workers import RolloutWorkerPool, collect_parallel
from reled_sumo.optim.threads import torch_threads

log = logging.getLogger(__name__)
# config keys a --resume may change
RESUMABLE_CHANGES = ("total_decisions", "total_updates", "rollout_workers", "ray_address", "expert.timeout_s",
                     "expert.retries", "expert.round_timeout_s", "overlap_rollouts", "episode_workers")


def default_run_id(cfg: TrainConfig) -> str:
    return f"{cfg.algo}-{scenario_label(cfg.scenario)}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


class Trainer:
    """One training run in ``run_dir`` (default ``runs/<algo>-<scenario>-s<seed>-<timestamp>``)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, callback: TrainCallback | None = None,
                 resume: bool = False, runs_root: str | Path = "runs"):
        self.cfg, self.spec = cfg, algo_spec(cfg)
        self.callback = callback or TrainCallback()
        self.resume = resume
        self.run_dir = Path(run_dir) if run_dir is not None else Path(runs_root) / default_run_id(cfg)
        self.state = RunState()
        self.expert: ExpertData | None = None
        # set up by run() (_setup); typed as what they hold once the run has started
        self.env: RoutingParallelEnv = None  # type: ignore[assignment]
        self.hpo: HybridPPO = None  # type: ignore[assignment]
        self.logger: Logger = None  # type: ignore[assignment]
        self.pool: Any = None  # RolloutWorkerPool or RayWorkerPool (training/ray_workers.py)
        self.prefetch: PrefetchWorker | None = None  # overlap_rollouts (training/overlap.py)
        self.splitter: EpisodeSplitter | None = None  # episode_workers (training/overlap.py)
        self._expert_model: Any = None
        self._snapshot: dict | None = None
        self._session_t0 = 0.0
        self._last: UpdateReport | None = None

    # ------------------------------------------------------------------ main loop
    def run(self) -> TrainResult:
        claim = RunDir.claim(self.run_dir, self.resume)  # marker + exclusive lock for the run's lifetime
        try:
            saved = self._prepare_dir()
            with torch_threads(self.cfg.torch_threads):
                return self._run(saved)
        finally:
            claim.release(keep=self.checkpoint_path.is_file())

    def _run(self, saved: dict | None) -> TrainResult:
        try:
            self._setup(saved)
            self.callback.on_start(self)
            while self._progress_remaining() > 0:
                self._update()
            path = self._write(self._snapshot)
        except KeyboardInterrupt:
            if self._snapshot is not None:
                self._write(self._snapshot)
                log.warning("interrupted: checkpoint of update %d saved to %s", self._snapshot["run"]["updates"],
                            self.checkpoint_path)
            raise
        finally:
            self._close()
        st = self.state
        result = TrainResult(self.run_dir, path, st.updates, st.decisions, st.episodes, st.wall_seconds,
                             st.decisions / max(st.wall_seconds, 1e-9), self._last)
        self.callback.on_end(result)
        return result

    def _progress_remaining(self) -> float:
        """1 at the start, 0 once the budget is spent: ``total_updates`` when it is set, else ``total_decisions``."""
        cfg, st = self.cfg, self.state
        if cfg.total_updates is not None:
            return max(0.0, 1.0 - st.updates / cfg.total_updates)
        return max(0.0, 1.0 - st.decisions / cfg.total_decisions)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / ck.CHECKPOINT

    def _update(self) -> None:
        cfg, st, t0 = self.cfg, self.state, time.perf_counter()
        u = st.updates + 1
        every = self.spec.refresh_every
        if every and u > 1 and (u - 1) % every == 0 and self.expert is not None:
            self._generate_demos(self.expert.version + 1, st.measured_tt)
        self.hpo.policy.set_logit_scale(self.spec.hpo.logit_scale(self._progress_remaining()))
        t_roll = time.perf_counter()
        buffer, episodes, measured = self._collect(measure=bool(every) and u % every == 0)
        t_roll = time.perf_counter() - t_roll
        n_dec = sum(e.decisions for e in episodes)
        if n_dec == 0:
            raise ConfigError("no agent made a decision in this update's episodes: the controlled agents do not "
                              "depart (or never reach a junction with a choice) within the horizon; check "
                              "env.horizon, env.depart_window and env.agent_selection")
        weights, dtw_mean, dtw_s = self._weights(episodes, u)
        compute_advantages(buffer, self.spec.hpo)
        progress = self._progress_remaining()
        losses = self.hpo.train(buffer, self.expert.batch if self.expert else None, weights, progress)
        st.updates, st.decisions, st.episodes = u, st.decisions + n_dec, st.episodes + len(episodes)
        st.measured_tt = measured if measured is not None else st.measured_tt
        if cfg.eval_every and u % cfg.eval_every == 0:
            self._evaluate()
        st.wall_seconds += time.perf_counter() - t0
        report = self._report(episodes, n_dec / max(t_roll, 1e-9), weights, dtw_mean, losses)
        self._log(report, dtw_s)
        self._snapshot = self._capture()
        if u % cfg.checkpoint_every == 0:
            self._write(self._snapshot)
        self._last = report
        self.callback.on_update(report)

    # ------------------------------------------------------------------ setup
    def _prepare_dir(self) -> dict | None:
        ckpt = self.checkpoint_path
        if self.resume:
            if not ckpt.is_file():
                raise UserInputError(f"cannot resume: no checkpoint at {ckpt}")
            self._check_same_config(read_yaml(self.run_dir / "config.yaml"))
            saved = ck.load_checkpoint(ckpt)
            done, updates = int(saved["run"]["decisions"]), int(saved["run"]["updates"])
            if self.cfg.total_updates is not None and self.cfg.total_updates < updates:
                raise UserInputError(f"cannot resume {self.run_dir} with --updates {self.cfg.total_updates}: the run "
                                     f"has already made {updates} updates; give --updates {updates} or more")
            if self.cfg.total_updates is None and self.cfg.total_decisions < done:
                raise UserInputError(f"cannot resume {self.run_dir} with --steps {self.cfg.total_decisions}: the run "
                                     f"has already made {done} decisions; give --steps {done} or more")
            return saved  # config.yaml is rewritten once the resume can proceed (_setup)
        else:
            if ckpt.exists():
                raise UserInputError(f"{self.run_dir} already holds a run; use --resume or another --out")
            saved = None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(self.cfg, self.run_dir / "config.yaml")
        return saved

    def _check_same_config(self, saved: dict[str, Any]) -> None:
        now = self.cfg.to_dict()
        diffs = [k for k in sorted(set(_flatten(saved)) | set(_flatten(now)))
                 if k not in RESUMABLE_CHANGES and _flatten(saved).get(k) != _flatten(now).get(k)]
        if diffs:
            raise ConfigError(f"cannot resume {self.run_dir} with a different configuration; changed: "
                              + ", ".join(f"{k} ({_flatten(saved).get(k)!r} -> {_flatten(now).get(k)!r})"
                                          for k in diffs[:5]) + " (only total_decisions / --steps and "
                              "rollout_workers may change)")

    def _setup(self, saved: dict | None) -> None:
        self._session_t0 = time.perf_counter()
        scenario = load_scenario(self.cfg.scenario)
        self._write_scenario(scenario)
        self.env = env = make_env(scenario, config=self.cfg.env)
        n, d, k = len(env.possible_agents), int(env.obs_dim), int(env.K)
        self.logger = open_logger(self.run_dir, resume_updates=saved["run"]["updates"] if saved else None)
        policy, dim = None, d
        if self.spec.central_critic:
            th.manual_seed(self.cfg.seed)
            g = global_state_dim(env)
            pc = self.spec.hpo.policy_config(env.candidate_layout, env.prior_feature)
            policy, dim = CentralCriticPolicy(pc, n, d, k, g), d + g
        self.hpo = HybridPPO(self.spec.hpo, n, dim, k, logger=self.logger, policy=policy,
                             candidate_layout=env.candidate_layout, prior_feature=env.prior_feature)
        self.hpo.policy.numpy_forward = self.cfg.rollout_forward == "numpy"  # workers get it with the policy
        self._buffer_dims = (dim, k, n)
        self._open_pool(scenario)
        self.prefetch = open_prefetch(self, scenario)
        self.splitter = open_splitter(self, scenario)
        if saved is not None:
            self._restore(saved)
            dump_config(self.cfg, self.run_dir / "config.yaml")  # atomic; --steps may have changed
        elif self.spec.uses_demos:
            self._generate_demos(0, None)
        self._snapshot = self._capture()
        if saved is None:
            self._write(self._snapshot)

    def _open_pool(self, scenario) -> None:
        """Start ``rollout_workers`` env processes (the learner keeps its own env for SED and eval)."""
        n = self.cfg.rollout_workers
        if not n:
            return
        if self.cfg.episodes_per_update < n:
            log.warning("rollout_workers=%d but episodes_per_update=%d: %d worker(s) will idle; set "
                        "episodes_per_update >= rollout_workers", n, self.cfg.episodes_per_update,
                        n - self.cfg.episodes_per_update)
        wrap = GlobalStateEnv if self.spec.central_critic else None
        if self.cfg.ray_address is not None:  # Ray is optional: imported only here
            from reled_sumo.training.ray_workers import RayWorkerPool  # lazy: ray (optional)

            self.pool = RayWorkerPool(scenario.path, {"config": self.cfg.env}, n_workers=n, wrap=wrap,
                                      address=self.cfg.ray_address)
        else:
            self.pool = RolloutWorkerPool(scenario.path, {"config": self.cfg.env}, n_workers=n, wrap=wrap)
        if self.pool.possible_agents != list(self.env.possible_agents):
            raise ConfigError("rollout workers built different agents than the learner's env")

    def _write_scenario(self, scenario) -> None:
        path = self.run_dir / "scenario.json"
        info = {"name": scenario.name, "scenario_hash": scenario.scenario_hash, "path": str(scenario.path)}
        if self.resume and path.is_file():
            old = json.loads(path.read_text())
            if old.get("scenario_hash") != info["scenario_hash"]:
                raise ConfigError(f"scenario {scenario.name} changed since this run started "
                                  f"(hash {old.get('scenario_hash')} -> {info['scenario_hash']}); cannot resume")
        atomic_write(path, json.dumps(info, indent=2) + "\n")
        self._scenario_info = info

    def _expert_instance(self):
        if self._expert_model is None:
            self._expert_model = make_expert(self.cfg.expert, env=self.env)
        return self._expert_model

    def _generate_demos(self, version: int, travel_times: np.ndarray | None) -> None:
        """Run SED and make its demonstrations the current ones. A refresh (version > 0) replaces
        the current teacher only if its routes beat the current ones on the same SUMO seeds
        (common random numbers; travel time counting non-arrived agents)."""
        t0 = time.perf_counter()
        expert = self._expert_instance()
        self.callback.on_phase(f"SED demonstrations v{version} ({self.spec.sed.rounds} rounds)")
        sed = self.spec.sed  # the same seeds for every version: teachers are compared like for like
        demos, rounds = refine(self.env, expert, sed, on_round=self.callback.on_sed_round,
                               initial_travel_times=travel_times)
        graph = self.env.scenario.graph
        new_tt = plan_travel_time(self.env, demo_routes(demos, graph), sed)
        old = None if version == 0 else DemoSet.load(self.run_dir / "demos")
        old_tt = np.nan if old is None else plan_travel_time(self.env, demo_routes(old, graph), sed)
        accepted = old is None or new_tt < old_tt
        if accepted:
            bound = rounds[-1].mean_bound if rounds else float("nan")
            demos = demos.with_meta(version=version, train_update=self.state.updates, teacher_travel_time=new_tt,
                                    **self._scenario_info)
            demos.save(self.run_dir / "demos")
            self.expert = demos_to_expert(demos, list(self.env.possible_agents), version, bound)
        else:
            log.info("refreshed teacher v%d rejected: %.1f s vs the current %.1f s on the same seeds",
                     version, new_tt, old_tt)
        assert self.expert is not None  # version 0 is always accepted
        for key, value in (("bound", self.expert.bound), ("version", self.expert.version),
                           ("seconds", time.perf_counter() - t0), ("refresh_accepted", float(accepted)),
                           ("teacher_travel_time", new_tt if accepted else old_tt), ("candidate_travel_time", new_tt),
                           ("samples", len(self.expert.batch) if self.expert.batch is not None else 0)):
            self.logger.record(f"sed/{key}", value)
        log.info("demonstrations v%d: %d samples, SED bound %.4f", self.expert.version,
                 len(self.expert.batch) if self.expert.batch is not None else 0, self.expert.bound)

    # ------------------------------------------------------------------ rollouts
    def _value_fn(self, o: np.ndarray, i: np.ndarray) -> np.ndarray:
        policy = self.hpo.policy
        with th.no_grad():
            v = policy.predict_values(th.as_tensor(o, device=policy.device), th.as_tensor(i, device=policy.device))
        return v.cpu().numpy()

    def _collect(self, measure: bool) -> tuple[GrowingRolloutBuffer, list[EpisodeStats], np.ndarray | None]:
        cfg, (dim, k, n) = self.cfg, self._buffer_dims
        buffer = GrowingRolloutBuffer(max(n * 64, 256) * cfg.episodes_per_update, dim, k, n, device=cfg.device)
        seeds = [episode_seed(cfg.seed, self.state.episodes + e) for e in range(cfg.episodes_per_update)]
        meter = EdgeTimeMeter(self.env) if measure else None
        if self.pool is not None and meter is None:  # the (rare) measuring update runs on the learner's env
            return buffer, collect_parallel(self.pool, self.hpo.policy.act, self._value_fn, buffer, seeds), None
        if self.prefetch is not None and meter is None:
            return buffer, collect_overlapped(self, seeds, buffer), None
        env = GlobalStateEnv(self.env) if self.spec.central_critic else self.env
        if self.splitter is not None and meter is None:
            return buffer, self.splitter.collect(env, self.hpo.policy, seeds, buffer), None
        after = None if meter is None else meter.read
        episodes = seeded_episodes(env, self.hpo.policy.act, self._value_fn, buffer, seeds, after_step=after)
        measured = None if meter is None else meter.mean(self.env.scenario.graph.freeflow_time)
        return buffer, episodes, measured

    def _weights(self, episodes: list[EpisodeStats], update: int) -> tuple[np.ndarray | None, float, float]:
        if self.expert is None:
            return None, float("nan"), 0.0
        paths = [_finite(p) for p in episodes[-1].paths]
        dtw, seconds = timed_path_dtw(paths, self.expert.paths, self.cfg.dtw_points)
        agent_return = self._gate_returns(episodes, update)
        st = self.state
        if st.d_scale is None:  # fixed in the config, or calibrated once from this first update's DTW
            d = self.spec.hpo.weight.d_scale
            st.d_scale = calibrate_d_scale(dtw) if d == "auto" else float(d)
        w = self.hpo.weights(dtw, agent_return, self.expert.returns, d_scale=st.d_scale)
        return w, float(np.nanmean(dtw)) if np.isfinite(dtw).any() else float("nan"), seconds

    def _gate_returns(self, episodes: list[EpisodeStats], update: int) -> np.ndarray:
        """The agent returns the expert gate compares with the teacher's (:class:`WeightConfig.gate`):
        the sampled rollouts' mean, or the greedy policy's on the teacher's SUMO seed, re-measured
        on the first update and every ``gate_every`` updates (one deterministic episode)."""
        wc = self.spec.hpo.weight
        if wc.gate == "sampled" or wc.mode != "dtw":
            return np.mean([e.returns for e in episodes], axis=0)
        st = self.state
        assert self.expert is not None
        if st.greedy_returns is None or (update - 1) % wc.gate_every == 0:
            policy = self.hpo.policy
            act = lambda o, i, m: policy.act(o, i, m, deterministic=True)  # noqa: E731
            env = GlobalStateEnv(self.env) if self.spec.central_critic else self.env
            st.greedy_returns = run_episode(env, act, seed=self.spec.sed.seed).returns.copy()
            self.logger.record("expert/greedy_return", float(st.greedy_returns.mean()))
            self.logger.record("expert/gate_open_share", float(np.mean(self.expert.returns > st.greedy_returns)))
        return st.greedy_returns

    def _evaluate(self) -> None:
        """One deterministic episode on a fixed seed (no RNG consumed: argmax actions)."""
        policy = self.hpo.policy
        act = lambda o, i, m: policy.act(o, i, m, deterministic=True)  # noqa: E731
        stats = run_episode(self.env, act, seed=eval_seed(self.cfg.seed))
        for key, value in stats.summary().items():
            self.logger.record(f"eval/{key}", value)

    # ------------------------------------------------------------------ reporting
    def _report(self, episodes, rollout_dps, weights, dtw_mean, losses) -> UpdateReport:
        st = self.state
        tt = np.concatenate([e.travel_time for e in episodes])
        tt = tt[np.isfinite(tt)]
        w = np.zeros(1) if weights is None else weights
        return UpdateReport(
            update=st.updates, decisions=st.decisions, total_decisions=self.cfg.total_decisions,
            episodes=st.episodes, decisions_per_s=st.decisions / max(st.wall_seconds, 1e-9),
            rollout_decisions_per_s=rollout_dps,
            mean_travel_time=float(tt.mean()) if tt.size else float("nan"),
            p95_travel_time=float(np.percentile(tt, 95)) if tt.size else float("nan"),
            arrival_rate=float(np.mean([e.arrival_rate for e in episodes])),
            mean_return=float(np.mean([e.returns.mean() for e in episodes])),
            w_mean=float(w.mean()), w_max=float(w.max()), w_std=float(w.std()), w_min=float(w.min()),
            dtw_mean=dtw_mean, losses=dict(losses),
            elapsed_s=st.wall_seconds)

    def _log(self, r: UpdateReport, dtw_seconds: float) -> None:
        rec = self.logger.record
        for key, value in (("time/updates", r.update), ("time/env_decisions", r.decisions),
                           ("time/episodes", r.episodes), ("time/decisions_per_s", r.decisions_per_s),
                           ("time/elapsed_s", r.elapsed_s), ("rollout/decisions_per_s", r.rollout_decisions_per_s),
                           ("rollout/mean_travel_time", r.mean_travel_time),
                           ("rollout/p95_travel_time", r.p95_travel_time),
                           ("rollout/arrival_rate", r.arrival_rate), ("rollout/mean_return", r.mean_return)):
            rec(key, value)
        if self.expert is not None:
            value_: float | None
            for key, value_ in (("w_mean", r.w_mean), ("w_max", r.w_max), ("w_std", r.w_std), ("w_min", r.w_min),
                               ("d_scale", self.state.d_scale), ("dtw_mean", r.dtw_mean),
                               ("dtw_seconds", dtw_seconds), ("sed_bound", self.expert.bound),
                               ("demo_version", self.expert.version)):
                rec(f"expert/{key}", value_)
        self.logger.dump(step=r.decisions)

    # ------------------------------------------------------------------ checkpoints
    def _meta(self) -> dict[str, Any]:
        meta = {"algo": self.cfg.algo, "seed": self.cfg.seed, "scenario": self._scenario_info["name"],
                "scenario_hash": self._scenario_info["scenario_hash"], "scenario_path": self._scenario_info["path"],
                "possible_agents": list(self.env.possible_agents), "config": self.cfg.to_dict(),
                **ck.policy_meta(self.hpo.policy, self.spec.central_critic)}
        return {**meta, "record": RunRecord.from_meta(meta).to_dict()}  # what eval/watch/export replay

    def _capture(self) -> dict[str, Any]:
        st, ex = self.state, self.expert
        expert = None
        if ex is not None:
            b = ex.batch
            expert = {"batch": None if b is None else {f: th.tensor(np.array(getattr(b, f)))
                                                       for f in ("obs", "actions", "masks", "agent_index")},
                      "paths": [None if p is None else th.tensor(np.array(p)) for p in ex.paths],
                      "returns": th.tensor(ex.returns), "bound": float(ex.bound), "version": ex.version}
        return {"format": ck.FORMAT, "meta": self._meta(), "hpo": copy.deepcopy(self.hpo.state_dict()),
                "hpo_rng": ck.generator_state(self.hpo.rng), "rng": ck.capture_rng(),
                "run": {"updates": st.updates, "decisions": st.decisions, "episodes": st.episodes,
                        "wall_seconds": st.wall_seconds, "d_scale": st.d_scale,
                        "greedy_returns": None if st.greedy_returns is None else th.tensor(st.greedy_returns),
                        "measured_tt": None if st.measured_tt is None else th.tensor(st.measured_tt)},
                "expert": expert}

    def _restore(self, data: dict[str, Any]) -> None:
        meta = data["meta"]
        if meta["possible_agents"] != list(self.env.possible_agents):
            raise ConfigError("the scenario's agents differ from the checkpoint's; cannot resume")
        self.hpo.load_state_dict(data["hpo"])
        ck.set_generator_state(self.hpo.rng, data["hpo_rng"])
        run = data["run"]
        self.state = RunState(int(run["updates"]), int(run["decisions"]), int(run["episodes"]),
                              float(run["wall_seconds"]), ck.to_numpy(run["measured_tt"]), run.get("d_scale"),
                              ck.to_numpy(run.get("greedy_returns")))
        ex = data["expert"]
        if ex is not None:
            b = ex["batch"]
            fields = ("obs", "actions", "masks", "agent_index")
            batch = None if b is None else ExpertBatch(*(b[f].numpy() for f in fields))
            self.expert = ExpertData(batch, [ck.to_numpy(p) for p in ex["paths"]], ex["returns"].numpy(),
                                     float(ex["bound"]), int(ex["version"]))
        ck.restore_rng(data["rng"])  # last: nothing after this may draw random numbers before the loop

    def _write(self, snapshot: dict | None) -> Path:
        if snapshot is not None:
            ck.atomic_save(snapshot, self.checkpoint_path)
        return self.checkpoint_path

    def _close(self) -> None:
        for closer in (getattr(self.pool, "close", None), getattr(self.prefetch, "close", None),
                       getattr(self.splitter, "close", None),
                       getattr(self.env, "close", None),
                       getattr(self.logger, "close", None),
                       getattr(self._expert_model, "close", None)):
            if callable(closer):
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must not mask the run's own error
                    log.debug("close failed", exc_info=True)


def compute_advantages(buffer, hpo_cfg) -> None:
    """Per-agent GAE over a buffer of whole episodes: every trajectory ends terminated or
    truncated (bootstrapped with V(final obs)), so no agent needs a last value; NaN last values
    keep ``compute_gae``'s guard on and an open trajectory raises instead of bootstrapping from 0."""
    buffer.compute_returns_and_advantage(np.full(buffer.n_agents, np.nan), hpo_cfg.gamma, hpo_cfg.gae_lambda)


def _finite(path) -> np.ndarray:
    p = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    return p[np.isfinite(p).all(axis=1)]


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


__all__ = ["RunState", "TrainCallback", "TrainResult", "Trainer", "UpdateReport", "default_run_id"]
