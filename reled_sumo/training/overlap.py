"""Overlapped rollouts (``overlap_rollouts: true``): the next update's episodes are played on a
worker process while the learner runs the PPO update on this update's episodes.

Sequentially, an update is rollout then learning, one after the other, on one core. With
overlap, :class:`PrefetchWorker` (one process with its own env, SUMO and a copy of the policy)
plays update ``u + 1``'s episodes with the weights the learner had *before* update ``u``'s
learning step, while that step runs. So update ``u + 1`` learns from episodes of a policy one
update older than the one it starts from: a **policy lag** of 1 (PPO's clipped importance ratio
``pi_new / pi_behaviour`` is computed against the behaviour policy's stored log-probabilities, so
the update stays correct; it is only less on-policy). The lag is bounded at 1 by construction
(at most one batch of episodes is in flight) and logged as ``rollout/policy_lag`` every update
(0 for the first update, whose episodes start as soon as the worker is up, with the initial
weights, while the learner still runs SED for ``reled``; 0 after a measuring or resumed update,
whose episodes are played on demand with the current weights).

What stays the same as sequential collection: the episode seeds (``episode_seed(seed, k)`` for
the k-th episode of the run), the buffer layout (each episode's transitions in order, episodes
in seed order) and every env semantics. What differs: the behaviour policy (lag 1) and the
random numbers of action sampling (the worker seeds torch with each episode's seed, so a run is
still reproducible). The measuring updates of ``reled`` (edge times for the SED refresh) and
evaluation episodes still run on the learner's own env. Nothing is prefetched beyond the budget.
"""
from __future__ import annotations

import io
import logging
import multiprocessing as mp
import signal
from typing import Any, Sequence

import numpy as np
import torch as th

from reled_sumo.env.episode import EpisodeStats, run_episode
from reled_sumo.errors import ConfigError
from reled_sumo.optim.policy import CandidateActor
from reled_sumo.optim.threads import limit_threads
from reled_sumo.sim import libsumo_in_use
from reled_sumo.training.algos import GrowingRolloutBuffer, episode_seed
from reled_sumo.training.workers import RolloutWorkerError, WorkerFailure, WorkerSimulationDiedError, _error, _failure

log = logging.getLogger(__name__)

_FIELDS = ("obs", "actions", "masks", "rewards", "values", "log_probs", "agent_index", "episode_start",
           "terminated", "truncated", "final_values", "positions")


def _policy_bytes(policy: th.nn.Module) -> bytes:
    buf = io.BytesIO()
    th.save(policy, buf)
    return buf.getvalue()


def _weights(policy: th.nn.Module) -> dict[str, np.ndarray]:
    """A snapshot of the weights as plain numpy arrays (nothing shared with the learner's tensors)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in policy.state_dict().items()}


def logit_scale_of(policy: th.nn.Module) -> float:
    """The candidate actor's current logit scale (the temperature schedule; not in the state dict)."""
    return next((float(m.logit_scale) for m in policy.modules() if isinstance(m, CandidateActor)), 1.0)


def seeded_episodes(env: Any, act: Any, value_fn: Any, buffer: Any, seeds: Sequence[int],
                    after_step: Any = None) -> list[EpisodeStats]:
    """One episode per seed into ``buffer``, torch's sampling seeded with each episode's own seed and
    the caller's random state put back afterwards: the transitions do not depend on which process
    plays an episode or on what it played before (the learner's sequential path and every worker)."""
    state = th.get_rng_state()
    episodes = []
    try:
        for s in seeds:
            th.manual_seed(int(s))
            episodes.append(run_episode(env, act, value_fn, buffer, seed=int(s), after_step=after_step))
    finally:
        th.set_rng_state(state)
    return episodes


def play(env: Any, policy: Any, seeds: Sequence[int], buffer_dims: tuple[int, int, int]
         ) -> tuple[dict[str, np.ndarray], list[EpisodeStats]]:
    """Play one episode per seed with ``policy`` (:func:`seeded_episodes`); returns the transitions
    (buffer columns, in order) and the episodes' statistics."""
    dim, k, n = buffer_dims
    buffer = GrowingRolloutBuffer(max(n * 64, 256) * len(seeds), dim, k, n)

    def value_fn(o: np.ndarray, i: np.ndarray) -> np.ndarray:
        with th.no_grad():
            return policy.predict_values(th.as_tensor(o), th.as_tensor(i)).cpu().numpy()

    episodes = seeded_episodes(env, policy.act, value_fn, buffer, seeds)
    return {f: getattr(buffer, f)[: buffer.pos].copy() for f in _FIELDS}, episodes


def _serve(conn, scenario: Any, env_config: Any, central_critic: bool, policy_bytes: bytes,
           buffer_dims: tuple[int, int, int], torch_threads: int) -> None:
    """Worker process main: build env and policy, then play the requested episodes until None / EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the learner's to handle
    env = None
    try:
        from reled_sumo.env import make_env  # lazy: in the worker process
        from reled_sumo.training.mappo import GlobalStateEnv  # lazy: in the worker process

        limit_threads(torch_threads)
        env = make_env(scenario, config=env_config)
        if central_critic:
            env = GlobalStateEnv(env)  # type: ignore[assignment]  # the same env API
        policy = th.load(io.BytesIO(policy_bytes), weights_only=False)
        conn.send(("ready", None))
    except BaseException as exc:  # noqa: BLE001 - reported to the learner
        conn.send(("failed", _failure(0, exc)))
        if env is not None:
            env.close()
        return
    try:
        while True:
            job = conn.recv()
            if job is None:
                break
            weights, seeds, scale = job
            try:
                policy.load_state_dict({k: th.as_tensor(v) for k, v in weights.items()})
                policy.set_logit_scale(scale)  # the prior's temperature travels beside the weights
                conn.send(("done", play(env, policy, seeds, buffer_dims)))
            except Exception as exc:  # noqa: BLE001 - reported to the learner
                conn.send(("failed", _failure(0, exc)))
    except (EOFError, OSError):
        pass  # the learner went away
    finally:
        env.close()


class PrefetchWorker:
    """One process playing whole episodes with a copy of the learner's policy, in the background.

    ``submit(policy, seeds)`` snapshots the weights and returns at once; ``take()`` waits for that
    batch. ``close()`` ends the process (also on errors).

    ``start_method``: ``"fork"`` (default where the OS has it) starts the worker as a copy of the
    learner, with torch, the scenario and its routing tables already loaded (well under a second),
    while ``"spawn"`` starts a fresh interpreter that imports and builds them again (3-5 s of CPU,
    as much as several PPO updates at 100 agents). Fork before this process opens a libsumo
    simulation (the trainer does: before the first SED run or rollout); the policy always travels
    as bytes (``torch.save``), never as shared tensors. A process that has a libsumo simulation
    loaded spawns instead (a forked copy could not start its own)."""

    def __init__(self, scenario: Any, env_config: Any, policy: th.nn.Module, central_critic: bool,
                 buffer_dims: tuple[int, int, int], torch_threads: int = 1, start_timeout_s: float = 300.0,
                 start_method: str | None = None):
        method = start_method or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        if method not in ("fork", "spawn"):
            raise ValueError(f"start_method must be fork or spawn, got {method!r}")
        if method == "fork" and libsumo_in_use():
            log.info("prefetch worker: this process runs a libsumo simulation, so the worker is spawned")
            method = "spawn"
        if method == "spawn":  # a fresh interpreter gets the scenario's folder, not the object
            scenario = str(getattr(scenario, "path", scenario))
        ctx = mp.get_context(method)
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_serve,  # type: ignore[attr-defined]  # every start method's context has it name="reled-prefetch", daemon=True,
                                 args=(child, scenario, env_config, central_critic,
                                       _policy_bytes(policy), buffer_dims, torch_threads))
        self._proc.start()
        child.close()
        self._busy = False
        self.in_flight: tuple[list[int], Any] | None = None  # (seeds, tag) of the batch in flight
        try:
            self._reply(start_timeout_s)
        except BaseException:
            self.close()
            raise
        log.info("prefetch worker started (pid %s)", self._proc.pid)

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, policy: th.nn.Module, seeds: Sequence[int], tag: Any = None) -> None:
        """Play ``seeds`` with a snapshot of ``policy``'s weights (``tag``: kept with the batch)."""
        if self._busy:
            raise RuntimeError("a batch of episodes is already in flight")
        try:
            self._conn.send((_weights(policy), [int(s) for s in seeds], logit_scale_of(policy)))
        except (OSError, ValueError) as exc:
            raise WorkerSimulationDiedError(0, f"prefetch process {self._proc.pid} is gone ({exc!r})") from exc
        self._busy = True
        self.in_flight = ([int(s) for s in seeds], tag)

    def take(self) -> tuple[dict[str, np.ndarray], list[EpisodeStats]]:
        if not self._busy:
            raise RuntimeError("no batch of episodes in flight")
        self._busy, self.in_flight = False, None
        return self._reply(None)

    def _reply(self, timeout: float | None) -> Any:
        try:
            if timeout is not None and not self._conn.poll(timeout):
                raise RolloutWorkerError(0, f"prefetch process {self._proc.pid}: no reply within {timeout:g} s")
            kind, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._proc.join(1.0)
            raise WorkerSimulationDiedError(0, f"prefetch process {self._proc.pid} died (exit code "
                                               f"{self._proc.exitcode})") from exc
        if kind == "failed":
            assert isinstance(value, WorkerFailure)
            raise _error(value)
        return value

    def close(self) -> None:
        """End the process (idempotent); a batch still in flight is dropped."""
        if self._proc is None:
            return
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._proc.join(10.0)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2.0)
        self._conn.close()
        self._proc = None


def open_prefetch(trainer: Any, scenario: Any) -> PrefetchWorker | None:
    """The trainer's :class:`PrefetchWorker` when ``overlap_rollouts`` is on, else None."""
    cfg = trainer.cfg
    if not cfg.overlap_rollouts:
        return None
    if cfg.rollout_workers:
        raise ConfigError("overlap_rollouts and rollout_workers > 0 cannot be combined")
    worker = PrefetchWorker(scenario, cfg.env, trainer.hpo.policy, trainer.spec.central_critic,
                            trainer._buffer_dims, cfg.torch_threads)
    every = trainer.spec.refresh_every
    if not trainer.resume and every != 1:  # the first update's episodes start now (while SED runs, for reled)
        worker.submit(trainer.hpo.policy, [episode_seed(cfg.seed, e) for e in range(cfg.episodes_per_update)],
                      tag=0)
    return worker


def collect_overlapped(trainer: Any, seeds: Sequence[int], buffer: Any) -> list[EpisodeStats]:
    """This update's episodes (prefetched during the last update's learning, or played now), into
    ``buffer``; then, unless the budget is reached or the next update measures edge times, the next
    update's episodes are submitted with the current weights. Logs ``rollout/policy_lag``."""
    worker, st, cfg = trainer.prefetch, trainer.state, trainer.cfg
    if worker.in_flight is not None and worker.in_flight[0] == [int(s) for s in seeds]:
        lag = st.updates - worker.in_flight[1]  # updates applied since the weights were sent
    else:  # nothing (or something else) in flight: play now with the current weights
        if worker.busy:
            worker.take()
        worker.submit(trainer.hpo.policy, seeds, tag=st.updates)
        lag = 0
    columns, episodes = worker.take()
    buffer.add(**columns)
    trainer.logger.record("rollout/policy_lag", lag)
    u, every = st.updates + 1, trainer.spec.refresh_every
    reaches_budget = (st.updates + 1 >= cfg.total_updates if cfg.total_updates is not None
                      else st.decisions + sum(e.decisions for e in episodes) >= cfg.total_decisions)
    if not reaches_budget and not (every and (u + 1) % every == 0):
        nxt = [episode_seed(cfg.seed, st.episodes + len(seeds) + e) for e in range(cfg.episodes_per_update)]
        worker.submit(trainer.hpo.policy, nxt, tag=st.updates)
    return episodes


class EpisodeSplitter:
    """``episode_workers: W``: an update's episodes are played at the same time, the first share on the
    learner's env and the others on ``W`` :class:`PrefetchWorker` processes, all with the current
    weights (no policy lag: as on-policy as sequential collection).

    Every episode seeds torch with its own seed (:func:`play`), and the learner's random state is
    put back after its share, so the transitions do not depend on ``W`` or on which process played
    an episode; they differ from the sequential path (``W = 0``) only in the random numbers of
    action sampling. Episodes enter the buffer in seed order. On 2 cores this is the way to use the
    second core for the rollout, which is most of an update's time."""

    def __init__(self, workers: list[PrefetchWorker], buffer_dims: tuple[int, int, int]):
        self.workers, self.buffer_dims = workers, buffer_dims

    def collect(self, env: Any, policy: Any, seeds: Sequence[int], buffer: Any) -> list[EpisodeStats]:
        chunks = split_seeds(seeds, len(self.workers) + 1)
        busy = [w for w, chunk in zip(self.workers, chunks[1:]) if chunk]
        for w, chunk in zip(busy, chunks[1:]):
            w.submit(policy, chunk)
        own = play(env, policy, chunks[0], self.buffer_dims)  # puts the learner's random state back
        episodes: list[EpisodeStats] = []
        for columns, eps in [own, *(w.take() for w in busy)]:
            buffer.add(**columns)
            episodes += eps
        return episodes

    def close(self) -> None:
        for w in self.workers:
            w.close()


def split_seeds(seeds: Sequence[int], parts: int) -> list[list[int]]:
    """``seeds`` in ``parts`` contiguous, nearly equal chunks (the first ones the larger)."""
    n, seeds = len(seeds), [int(s) for s in seeds]
    sizes = [n // parts + (i < n % parts) for i in range(parts)]
    starts = np.cumsum([0, *sizes])
    return [seeds[starts[i]: starts[i + 1]] for i in range(parts)]


def open_splitter(trainer: Any, scenario: Any) -> EpisodeSplitter | None:
    """The trainer's :class:`EpisodeSplitter` when ``episode_workers`` resolves to W > 0, else None."""
    cfg = trainer.cfg
    n = cfg.resolved_episode_workers()
    if not n:
        return None
    log.info("episode workers: %d (episode_workers=%s)", n, cfg.episode_workers)
    workers: list[PrefetchWorker] = []
    try:
        for _ in range(n):
            workers.append(PrefetchWorker(scenario, cfg.env, trainer.hpo.policy, trainer.spec.central_critic,
                                          trainer._buffer_dims, cfg.torch_threads))
    except BaseException:
        for w in workers:
            w.close()
        raise
    return EpisodeSplitter(workers, trainer._buffer_dims)


__all__ = ["EpisodeSplitter", "PrefetchWorker", "collect_overlapped", "open_prefetch", "open_splitter", "play",
           "seeded_episodes", "split_seeds"]
