"""Parallel rollouts: one env per worker process, one batched policy forward per round.

libsumo runs ONE simulation per process, so each :class:`RolloutWorkerPool` worker is a
separate process owning one :class:`~reled_sumo.env.episode.EnvWorker` (its own
env and SUMO). The learner talks to workers over ``multiprocessing`` pipes with small
plain-data messages (:class:`Reset`, :class:`Step`, :class:`Close` -> :class:`StepBatch`
or :class:`WorkerFailure`), the same messages a remote engine (Ray actors) could carry;
see docs/architecture.md, "Parallel rollouts".

:func:`collect_parallel` plays a list of seeded episodes on a pool: every round it
stacks the deciders of ALL workers into one ``act`` call, and it keeps one
:class:`~reled_sumo.env.episode.EpisodeCollector` per running episode. Each episode's
transitions are staged and written to the buffer when the episode ends, in seed order,
so the buffer equals the one sequential ``run_episode`` calls with the same seeds give
(each agent's trajectory of one episode is contiguous and ends done: per-agent GAE is
unchanged).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, Union

import numpy as np

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env import make_env
from reled_sumo.env.episode import ActFn, EnvWorker, EpisodeCollector, EpisodeStats, StepBatch, ValueFn
from reled_sumo.errors import SimulationDiedError, SimulationError

log = logging.getLogger(__name__)
START_METHODS = ("spawn", "forkserver")


# --------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class Reset:
    seed: int | None = None


@dataclass(frozen=True)
class Step:
    actions: Mapping[int, int]  # {agent_index: action}


@dataclass(frozen=True)
class Close:
    pass


Command = Union[Reset, Step, Close]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker reports once its env is built."""

    worker: int
    pid: int
    possible_agents: tuple[str, ...]
    obs_dim: int
    n_actions: int


@dataclass(frozen=True)
class WorkerFailure:
    """An exception raised inside a worker, as plain data."""

    worker: int
    error_type: str
    message: str
    traceback: str
    sim_died: bool


class RolloutWorkerError(SimulationError):
    """A rollout worker failed (its env raised, or the process died)."""

    def __init__(self, worker: int, message: str, remote_traceback: str = ""):
        self.worker, self.remote_traceback = worker, remote_traceback
        super().__init__(f"rollout worker {worker}: {message}")


class WorkerSimulationDiedError(RolloutWorkerError, SimulationDiedError):
    """The SUMO simulation of a rollout worker died (still a ``SimulationDiedError``)."""


class RolloutWorker(Protocol):
    """What a worker host wraps (``EnvWorker``): plain data in, plain data out."""

    def reset(self, seed: int | None = None) -> StepBatch: ...

    def step(self, actions: Mapping[int, int]) -> StepBatch: ...

    def close(self) -> None: ...


def handle(worker: RolloutWorker, command: Command) -> StepBatch:
    """Run one command on a worker (what any host, process or actor, does per message)."""
    if isinstance(command, Reset):
        return worker.reset(command.seed)
    if isinstance(command, Step):
        return worker.step(command.actions)
    raise TypeError(f"unknown worker command {command!r}")


def _failure(worker: int, exc: BaseException) -> WorkerFailure:
    return WorkerFailure(worker, type(exc).__name__, str(exc), traceback.format_exc(),
                         isinstance(exc, SimulationDiedError))


def _error(f: WorkerFailure) -> RolloutWorkerError:
    cls = WorkerSimulationDiedError if f.sim_died else RolloutWorkerError
    return cls(f.worker, f"{f.error_type}: {f.message}", f.traceback)


def build_worker(scenario: ScenarioLike, env_options: Mapping[str, Any], wrap: Callable | None = None) -> EnvWorker:
    env = make_env(scenario, **dict(env_options))
    return EnvWorker(wrap(env) if wrap is not None else env)


def _serve(conn, worker_id: int, scenario: ScenarioLike, env_options: Mapping[str, Any], wrap: Callable | None) -> None:
    """Worker process main: build the env, then answer commands until Close or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the learner's to handle
    try:
        worker = build_worker(scenario, env_options, wrap)
        env = worker.env
        conn.send(WorkerSpec(worker_id, os.getpid(), tuple(worker.names), int(getattr(env, "obs_dim", 0)),
                             int(getattr(env, "K", 0))))
    except BaseException as exc:  # noqa: BLE001 - reported to the learner
        conn.send(_failure(worker_id, exc))
        return
    try:
        serve_commands(conn, worker, worker_id)
    finally:
        worker.close()


def serve_commands(conn, worker: EnvWorker, worker_id: int) -> None:
    """A worker's command loop (process and Ray workers alike): answer each command with a
    ``StepBatch`` or a ``WorkerFailure`` until ``Close`` or until the learner goes away."""
    try:
        while True:
            command = conn.recv()
            if isinstance(command, Close):
                break
            try:
                reply: StepBatch | WorkerFailure = handle(worker, command)
            except Exception as exc:  # noqa: BLE001 - reported to the learner
                reply = _failure(worker_id, exc)
            conn.send(reply)
    except (EOFError, OSError):
        pass  # the learner went away


# --------------------------------------------------------------------------- pool
def _scenario_arg(scenario: ScenarioLike) -> str:
    """Workers get a folder path (or a name): a Scenario object is replaced by its folder."""
    path = getattr(scenario, "path", None)
    return str(path if path is not None else scenario)


class ExchangePool:
    """The learner's side of a worker pool, shared by the process pool and the Ray pool: send every
    worker its command, then read every reply. Subclasses own ``_conns`` (connections with ``send``),
    ``_closed``, ``reply_timeout_s``, ``_recv(worker, timeout)`` and ``_gone(worker, exc)``."""

    _conns: list[Any]
    _closed: bool
    reply_timeout_s: float | None

    if TYPE_CHECKING:  # defined by the subclasses

        def _recv(self, worker: int, timeout: float | None) -> StepBatch: ...

        def _gone(self, worker: int, exc: BaseException) -> RolloutWorkerError: ...

        def close(self) -> None: ...

    def exchange(self, commands: Mapping[int, Command]) -> dict[int, StepBatch]:
        """Send every worker its command, then wait for all replies (``{worker: StepBatch}``).

        All replies are read before the first failure is raised, so the pool stays usable.
        """
        if self._closed:
            raise RuntimeError("the rollout pool is closed")
        errors: list[RolloutWorkerError] = []
        sent = []
        for w, command in commands.items():
            try:
                self._conns[w].send(command)
                sent.append(w)
            except (OSError, ValueError) as exc:
                errors.append(self._gone(w, exc))
        replies: dict[int, StepBatch] = {}
        for w in sent:
            try:
                replies[w] = self._recv(w, self.reply_timeout_s)
            except RolloutWorkerError as exc:
                errors.append(exc)
        for extra in errors[1:]:
            log.error("%s", extra)
        if errors:
            raise errors[0]
        return replies

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin_close(self) -> bool:
        """Mark the pool closed and ask every worker to close its env; False if it already was."""
        if self._closed:
            return False
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(Close())
            except (OSError, ValueError):
                pass
        return True

    def reset(self, seeds: Mapping[int, int | None]) -> dict[int, StepBatch]:
        return self.exchange({w: Reset(s) for w, s in seeds.items()})

    def step(self, actions: Mapping[int, Mapping[int, int]]) -> dict[int, StepBatch]:
        return self.exchange({w: Step(dict(a)) for w, a in actions.items()})



class RolloutWorkerPool(ExchangePool):
    """``n_workers`` processes, each owning one env of ``scenario`` (a folder path or name).

    A context manager: ``close()`` (also on errors) asks every worker to close its env and
    terminates any process that does not exit within ``close_timeout_s``. ``wrap`` is an
    optional picklable env wrapper applied in the workers (e.g. MAPPO's ``GlobalStateEnv``).
    """

    def __init__(self, scenario: ScenarioLike, env_options: Mapping[str, Any] | None = None, n_workers: int = 2,
                 start_method: str = "spawn", wrap: Callable | None = None,
                 start_timeout_s: float = 300.0, reply_timeout_s: float | None = None,
                 close_timeout_s: float = 10.0):
        if n_workers < 1:
            raise ValueError("n_workers must be >= 1")
        if start_method not in START_METHODS:
            raise ValueError(f"start_method must be one of {START_METHODS}, got {start_method!r}")
        self.n_workers, self.reply_timeout_s, self.close_timeout_s = n_workers, reply_timeout_s, close_timeout_s
        self._procs: list[mp.process.BaseProcess] = []
        self._conns: list[Any] = []
        self._closed = False
        ctx = mp.get_context(start_method)
        args = (_scenario_arg(scenario), dict(env_options or {}), wrap)
        try:
            for w in range(n_workers):
                parent, child = ctx.Pipe(duplex=True)
                proc = ctx.Process(  # type: ignore[attr-defined]  # every start method's context has it
                    target=_serve, args=(child, w, *args), name=f"reled-rollout-{w}", daemon=True)
                proc.start()
                child.close()  # so that the worker's death reads as EOF here
                self._procs.append(proc)
                self._conns.append(parent)
            self.specs: tuple[WorkerSpec, ...] = tuple(self._recv(w, start_timeout_s) for w in range(n_workers))
        except BaseException:
            self.close()
            raise
        spec = self.specs[0]
        self.possible_agents, self.obs_dim, self.n_actions = list(spec.possible_agents), spec.obs_dim, spec.n_actions
        log.info("rollout pool: %d %s workers (pids %s)", n_workers, start_method,
                 ", ".join(str(s.pid) for s in self.specs))

    # ------------------------------------------------------------------ messaging
    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self._procs]

    def _recv(self, w: int, timeout: float | None) -> Any:
        conn, proc = self._conns[w], self._procs[w]
        try:
            if timeout is not None and not conn.poll(timeout):
                raise RolloutWorkerError(w, f"no reply within {timeout:g} s (pid {proc.pid})")
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            proc.join(1.0)
            raise WorkerSimulationDiedError(
                w, f"process {proc.pid} died (exit code {proc.exitcode}): its env/SUMO is gone ({exc!r})") from exc
        if isinstance(reply, WorkerFailure):
            raise _error(reply)
        return reply

    def _gone(self, w: int, exc: BaseException) -> RolloutWorkerError:
        """A send to worker ``w`` failed: it died (named with its exit code, as when a receive fails first)."""
        proc = self._procs[w]
        proc.join(1.0)
        if proc.exitcode is not None:
            return WorkerSimulationDiedError(
                w, f"process {proc.pid} died (exit code {proc.exitcode}): its env/SUMO is gone ({exc!r})")
        return WorkerSimulationDiedError(w, f"process {proc.pid} is gone ({exc!r})")

    def close(self) -> None:
        """Close every env and end every worker process (idempotent)."""
        if not self._begin_close():
            return
        deadline = time.monotonic() + self.close_timeout_s
        for proc in self._procs:
            proc.join(max(deadline - time.monotonic(), 0.0))
        for proc in self._procs:
            if proc.is_alive():
                log.warning("rollout worker %s did not exit: terminating it", proc.pid)
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
        for conn in self._conns:
            conn.close()


# --------------------------------------------------------------------------- learner loop
class _EpisodeStage:
    """Buffer stand-in of one running episode: ``add`` calls kept until the episode ends."""

    def __init__(self) -> None:
        self.calls: list[dict[str, np.ndarray]] = []

    def add(self, **kwargs: np.ndarray) -> None:
        self.calls.append(kwargs)

    def flush(self, buffer: Any) -> None:
        for kwargs in self.calls:
            buffer.add(**kwargs)
        self.calls.clear()


@dataclass
class _Running:
    episode: int
    collector: EpisodeCollector
    stage: _EpisodeStage | None


class _Schedule:
    """Which worker plays which episode; finished episodes reach the buffer in seed order."""

    def __init__(self, seeds: Sequence[int | None], n_agents: int, buffer: Any, value_fn: ValueFn | None):
        self.seeds, self.n_agents, self.buffer, self.value_fn = list(seeds), n_agents, buffer, value_fn
        self.results: list[EpisodeStats | None] = [None] * len(self.seeds)
        self.running: dict[int, _Running] = {}
        self._next, self._flushed = 0, 0
        self._done_stages: dict[int, _EpisodeStage | None] = {}

    def start(self, workers: Iterable[int]) -> dict[int, int | None]:
        """Give each free worker the next episode; returns ``{worker: seed}`` to reset."""
        resets = {}
        for w in workers:
            if self._next >= len(self.seeds):
                break
            stage = _EpisodeStage() if self.buffer is not None else None
            self.running[w] = _Running(self._next, EpisodeCollector(self.n_agents, stage, self.value_fn), stage)
            resets[w] = self.seeds[self._next]
            self._next += 1
        return resets

    def finish(self, w: int) -> None:
        run = self.running.pop(w)
        self.results[run.episode] = run.collector.finish()
        self._done_stages[run.episode] = run.stage
        while self._flushed in self._done_stages:
            stage = self._done_stages.pop(self._flushed)
            if stage is not None:
                stage.flush(self.buffer)
            self._flushed += 1


def _act_all(act: ActFn, running: Mapping[int, _Running]) -> dict[int, dict[int, int]]:
    """ONE ``act`` call for the deciders of every running episode; ``{worker: actions}``."""
    parts = {w: r.collector.deciders() for w, r in running.items()}
    live = [w for w, (idx, _, _) in parts.items() if idx.size]
    actions: dict[int, dict[int, int]] = {w: {} for w in running}
    if not live:
        return actions
    idx, obs, mask = (np.concatenate([parts[w][k] for w in live]) for k in range(3))
    a, v, lp = act(obs, idx, mask)
    start = 0
    for w in live:
        end = start + parts[w][0].shape[0]
        actions[w] = running[w].collector.apply(a[start:end], v[start:end], lp[start:end])
        start = end
    return actions


def collect_parallel(pool: Any, act: ActFn, value_fn: ValueFn | None = None, buffer: Any = None,
                     seeds: Sequence[int | None] = (0,)) -> list[EpisodeStats]:
    """Play one episode per seed on ``pool`` (a :class:`RolloutWorkerPool` or anything with
    its ``n_workers`` / ``possible_agents`` / ``exchange``); returns stats in seed order.

    Per round: one ``act`` over all workers' deciders, then one message per worker (its
    actions, or ``Reset`` with the next seed once its episode is over).
    """
    sched = _Schedule(seeds, len(pool.possible_agents), buffer, value_fn)
    commands: dict[int, Command] = {w: Reset(s) for w, s in sched.start(range(pool.n_workers)).items()}
    replies = pool.exchange(commands)
    for w, batch in replies.items():
        sched.running[w].collector.begin(batch)
    while sched.running:
        for w in [w for w, r in sched.running.items() if r.collector.done]:
            sched.finish(w)
        resets = sched.start(w for w in range(pool.n_workers) if w not in sched.running)
        active = {w: r for w, r in sched.running.items() if w not in resets}
        commands = {w: Step(a) for w, a in _act_all(act, active).items()}
        commands.update({w: Reset(s) for w, s in resets.items()})
        if not commands:
            break
        for w, batch in pool.exchange(commands).items():
            collector = sched.running[w].collector
            if w in resets:
                collector.begin(batch)
            else:
                collector.observe(batch)
    return [r for r in sched.results if r is not None]
