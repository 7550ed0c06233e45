"""Playing episodes of the PettingZoo env: one recorder for rollouts, evaluation and demos.

``env.agents`` lists the agents in the network; those with ``infos[a]["needs_decision"]``
are at a decision point. All deciders are acted for in ONE batched policy call. An
agent's transition is complete when its reward is delivered: at its next decision (not
done), or when it terminates (arrival) or is truncated (horizon / teleport). Truncated
transitions are bootstrapped with V(final observation), computed in one batched pass per step.

Collection is step-driven so that one env (:func:`run_episode`), several env worker
processes (:mod:`reled_sumo.training.workers`), evaluation (:mod:`reled_sumo.evaluation`)
and expert demonstrations (:mod:`reled_sumo.experts.execute`) share the same code, and
therefore one attribution of reward and travel time:

* :class:`EnvWorker` adapts a PettingZoo env to plain-data messages: ``reset(seed)`` and
  ``step({agent_index: action})`` return a :class:`StepBatch` (numpy arrays, no names).
* :class:`EpisodeCollector` holds one episode's pending transitions and statistics:
  ``begin(batch)`` -> (``deciders()`` -> policy -> ``apply(...)`` -> env step ->
  ``observe(batch)``)* until ``done`` -> ``finish()``. A policy is an :data:`ActFn`
  ``(obs, agent_index, mask)``, or a :class:`BatchPolicy` that reads the whole batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from reled_sumo.env.acting import ActFn, zero_stats
from reled_sumo.env.policies import shortest_actions

ValueFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@runtime_checkable
class BatchPolicy(Protocol):
    """A policy that needs more of the step than ``(obs, agent_index, mask)`` (e.g. the
    deciders' edges, to follow planned routes): it gets the whole :class:`StepBatch`."""

    def act_batch(self, batch: "StepBatch") -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
_NAN2 = (float("nan"), float("nan"))


@dataclass
class EpisodeStats:
    """What one episode produced, per agent (index = position in possible_agents)."""

    n_agents: int
    returns: np.ndarray = field(init=False)
    travel_time: np.ndarray = field(init=False)  # NaN: never done (never departed)
    arrived: np.ndarray = field(init=False)
    teleported: np.ndarray = field(init=False)
    departed: np.ndarray = field(init=False)  # done at some point (every departed agent is done by the horizon)
    waiting_time: np.ndarray = field(init=False)  # at the end of its trip; NaN: never departed
    unattributed: np.ndarray = field(init=False)  # rewards that closed no decision of the agent
    decisions: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    paths: list[list[tuple[float, float]]] = field(init=False)

    def __post_init__(self) -> None:
        self.returns = np.zeros(self.n_agents)
        self.travel_time = np.full(self.n_agents, np.nan)
        self.arrived = np.zeros(self.n_agents, dtype=bool)
        self.teleported = np.zeros(self.n_agents, dtype=bool)
        self.departed = np.zeros(self.n_agents, dtype=bool)
        self.waiting_time = np.full(self.n_agents, np.nan)
        self.unattributed = np.zeros(self.n_agents)
        self.paths = [[] for _ in range(self.n_agents)]

    @property
    def arrival_rate(self) -> float:
        return float(self.arrived.mean()) if self.n_agents else 0.0

    @property
    def mean_travel_time(self) -> float:
        tt = self.travel_time[np.isfinite(self.travel_time)]
        return float(tt.mean()) if tt.size else float("nan")

    def summary(self) -> dict[str, float]:
        tt = self.travel_time[np.isfinite(self.travel_time)]
        return {
            "mean_travel_time": self.mean_travel_time,
            "p95_travel_time": float(np.percentile(tt, 95)) if tt.size else float("nan"),
            "arrival_rate": self.arrival_rate,
            "mean_return": float(self.returns.mean()),
            "decisions": float(self.decisions),
            "decisions_per_s": self.decisions / max(self.wall_seconds, 1e-9),
        }


# --------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class StepBatch:
    """One env ``reset()``/``step()`` reduced to what the learner needs (plain numpy data).

    Rows ``B``: the deciders. Rows ``R``: agents whose reward was delivered this step (at
    a decision or on being done) or is non-zero, in the env's order. Rows ``F``: the
    done rows of ``R`` (terminated or truncated), in the same order.
    """

    sim_time: float
    over: bool                    # no live agent left: the episode has ended
    agent: np.ndarray             # int64[B]
    obs: np.ndarray               # float32[B, D]
    mask: np.ndarray              # bool[B, K]
    position: np.ndarray          # float64[B, 2]
    edge: np.ndarray              # int64[B]: the deciders' current edge (graph index)
    reported: np.ndarray          # int64[R]
    reward: np.ndarray            # float64[R]
    delivered: np.ndarray         # bool[R]: closes the agent's pending transition
    terminated: np.ndarray        # bool[R]
    truncated: np.ndarray         # bool[R]
    final_obs: np.ndarray         # float32[F, D]
    travel_time: np.ndarray       # float64[F]
    final_position: np.ndarray    # float64[F, 2] (NaN: not reported)
    teleported: np.ndarray        # bool[F]
    waiting_time: np.ndarray      # float64[F]
    arrived: np.ndarray           # bool[F]: reached the destination (teleported/removed agents terminate too)

    @property
    def n_deciders(self) -> int:
        return int(self.agent.shape[0])


def _rows(values: list, dtype, width: int | None = None) -> np.ndarray:
    if values:
        return np.asarray(values, dtype=dtype) if width is None else np.stack(values).astype(dtype)
    return np.zeros((0,) if width is None else (0, width), dtype=dtype)


def _done_rows(done: list[str], obs, infos) -> dict[str, np.ndarray]:
    info = [infos.get(a, {}) for a in done]
    return {
        "final_obs": _rows([obs[a] for a in done], np.float32, 0),
        "travel_time": _rows([float(i.get("travel_time", np.nan)) for i in info], np.float64),
        "final_position": _rows([tuple(i.get("position", _NAN2)) for i in info], np.float64, 2).reshape(-1, 2),
        "teleported": _rows([i.get("done_reason") == "teleported" for i in info], bool),
        "waiting_time": _rows([float(i.get("waiting_time", np.nan)) for i in info], np.float64),
        "arrived": _rows([bool(i.get("arrived", False)) for i in info], bool),
    }


class EnvWorker:
    """A PettingZoo env behind plain-data messages: the ``RolloutWorker`` of one process.

    ``reset(seed)`` / ``step({agent_index: action})`` return a :class:`StepBatch`;
    ``close()`` closes the env. Agent indices are positions in ``env.possible_agents``.
    """

    def __init__(self, env: Any):  # a RoutingParallelEnv, or a wrapper with its API
        self.env = env
        self.names: list[str] = list(env.possible_agents)
        self.index = {a: i for i, a in enumerate(self.names)}
        tables = getattr(env, "tables", None)
        self._edge_index: Mapping[str, int] = tables.index if tables is not None else {}

    @property
    def n_agents(self) -> int:
        return len(self.names)

    def reset(self, seed: int | None = None) -> StepBatch:
        obs, infos = self.env.reset(seed=seed)
        return self.batch(obs, infos, {}, {}, {})

    def step(self, actions: Mapping[int, int]) -> StepBatch:
        names = self.names
        obs, rewards, terms, truncs, infos = self.env.step({names[i]: int(a) for i, a in actions.items()})
        return self.batch(obs, infos, rewards, terms, truncs)

    def close(self) -> None:
        self.env.close()

    def batch(self, obs, infos, rewards, terms, truncs) -> StepBatch:
        """The :class:`StepBatch` of one PettingZoo step's dicts."""
        index = self.index
        dec = deciders(self.env, infos)
        reported, done = _reported_rows(rewards, terms, truncs, infos, dec)
        reported = [(index[a], r, d, te, tr) for a, r, d, te, tr in reported]
        cols: list[Any] = list(zip(*reported)) if reported else [[]] * 5
        edges = self._edge_index
        return StepBatch(
            sim_time=float(getattr(self.env, "sim_time", 0.0)), over=not self.env.agents,
            agent=_rows([index[a] for a in dec], np.int64), obs=_rows([obs[a] for a in dec], np.float32, 0),
            mask=_rows([np.asarray(infos[a]["action_mask"], dtype=bool) for a in dec], bool, 0),
            position=_rows([tuple(infos[a].get("position", _NAN2)) for a in dec], np.float64, 2).reshape(-1, 2),
            edge=_rows([edges.get(infos[a].get("edge", ""), -1) for a in dec], np.int64),
            reported=_rows(list(cols[0]), np.int64), reward=_rows(list(cols[1]), np.float64),
            delivered=_rows(list(cols[2]), bool), terminated=_rows(list(cols[3]), bool),
            truncated=_rows(list(cols[4]), bool), **_done_rows(done, obs, infos),
        )


def deciders(env, infos) -> list[str]:
    return [a for a in env.agents if infos[a].get("needs_decision", True)]


def _reported_rows(rewards, terms, truncs, infos, dec: list[str]) -> tuple[list[tuple], list[str]]:
    """``([(agent, reward, delivered, terminated, truncated)], done agents)`` in ``rewards``
    order: the agents whose reward closes a decision (a decider, or done) or is non-zero.

    ``rewards`` holds every live agent while ~2 decide per step, so when the three dicts
    list the same agents in the same order (the env's do) this is numpy over their values
    plus a lookup per decider; otherwise a loop over the agents with the same result."""
    names = list(rewards)
    n = len(names)
    if n and list(terms) == names and list(truncs) == names:
        try:
            r = np.fromiter(rewards.values(), np.float64, n)
            term = np.fromiter(terms.values(), bool, n)
            trunc = np.fromiter(truncs.values(), bool, n)
        except (TypeError, ValueError):
            pass
        else:
            done = term | trunc
            delivered = done.copy()
            for a in dec:
                if a in rewards and infos.get(a, {}).get("needs_decision", False):
                    delivered[names.index(a)] = True
            rows = np.flatnonzero(delivered | (r != 0)).tolist()
            rl, dl, tl, trl = r.tolist(), delivered.tolist(), term.tolist(), trunc.tolist()
            return ([(names[j], rl[j], dl[j], tl[j], trl[j]) for j in rows],
                    [names[j] for j in np.flatnonzero(done).tolist()])
    reported, done_agents = [], []
    for a, rew in rewards.items():
        te, tr = bool(terms.get(a)), bool(truncs.get(a))
        delivered_a = te or tr or bool(infos.get(a, {}).get("needs_decision", False))
        if delivered_a or rew != 0:
            reported.append((a, float(rew), delivered_a, te, tr))
        if te or tr:
            done_agents.append(a)
    return reported, done_agents


# --------------------------------------------------------------------------- collector
@dataclass(frozen=True)
class _Pending:
    obs: np.ndarray
    action: int
    mask: np.ndarray
    value: float
    log_prob: float
    position: tuple[float, float]
    episode_start: bool


class EpisodeCollector:
    """One episode's pending transitions and :class:`EpisodeStats`, driven step by step.

    ``buffer`` (optional) is anything with ``MultiAgentRolloutBuffer.add``'s keyword
    interface; complete transitions go there in one ``add`` per step.
    """

    def __init__(self, n_agents: int, buffer: Any = None, value_fn: ValueFn | None = None):
        self.stats = EpisodeStats(n_agents)
        self._buffer, self._value_fn = buffer, value_fn
        self._pending: dict[int, _Pending] = {}
        self._started: set[int] = set()
        self._batch: StepBatch | None = None
        self._t0 = time.perf_counter()

    @property
    def done(self) -> bool:
        return self._batch is not None and self._batch.over

    def begin(self, batch: StepBatch) -> None:
        """The batch of ``reset()`` (it delivers no rewards)."""
        self._batch = batch

    def deciders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(agent_index[B], obs[B, D], mask[B, K])`` of the agents to act for now."""
        b = self._require_batch()
        return b.agent, b.obs, b.mask

    def apply(self, actions: np.ndarray, values: np.ndarray, log_probs: np.ndarray) -> dict[int, int]:
        """Record the deciders' policy outputs; returns ``{agent_index: action}`` for the env."""
        b = self._require_batch()
        out: dict[int, int] = {}
        for j, i in enumerate(b.agent.tolist()):
            pos = (float(b.position[j, 0]), float(b.position[j, 1]))
            self._pending[i] = _Pending(b.obs[j], int(actions[j]), b.mask[j], float(values[j]),
                                        float(log_probs[j]), pos, i not in self._started)
            self._started.add(i)
            self.stats.paths[i].append(pos)
            out[i] = int(actions[j])
        self.stats.decisions += len(out)
        return out

    def act(self, act: ActFn | BatchPolicy) -> dict[int, int]:
        """``deciders()`` -> ``act`` -> ``apply()``; no forward pass when nobody decides."""
        b = self._require_batch()
        if not b.agent.size:
            return {}
        act_batch = getattr(act, "act_batch", None)  # what isinstance(act, BatchPolicy) checks, without
        if act_batch is not None:                     # the protocol's slow isinstance (0.8 % of an episode)
            return self.apply(*act_batch(b))
        return self.apply(*act(b.obs, b.agent, b.mask))  # type: ignore[operator]  # an ActFn here

    def observe(self, batch: StepBatch) -> None:
        """The result of an env step: rewards, dones, and the transitions they complete."""
        self._batch = batch
        st = self.stats
        pending = self._pending
        for i, r, d in zip(batch.reported.tolist(), batch.reward.tolist(), batch.delivered.tolist()):
            st.returns[i] += r
            if not (d and i in pending):
                st.unattributed[i] += r
        done = batch.terminated | batch.truncated
        for f, i in enumerate(batch.reported[done].tolist()):
            st.arrived[i] = batch.arrived[f]
            st.departed[i] = True
            st.teleported[i] = batch.teleported[f]
            st.travel_time[i] = batch.travel_time[f]
            st.waiting_time[i] = batch.waiting_time[f]
            if np.isfinite(batch.final_position[f]).all():
                st.paths[i].append((float(batch.final_position[f, 0]), float(batch.final_position[f, 1])))
        if self._buffer is None:
            for i in batch.reported[batch.delivered].tolist():
                pending.pop(i, None)
            return
        self._complete(batch, done)

    def finish(self) -> EpisodeStats:
        """The episode's statistics (call once ``done``)."""
        self.stats.wall_seconds = time.perf_counter() - self._t0
        self.stats.sim_seconds = self._require_batch().sim_time
        return self.stats

    def _require_batch(self) -> StepBatch:
        if self._batch is None:
            raise RuntimeError("call begin() with the reset batch first")
        return self._batch

    def _complete(self, batch: StepBatch, done: np.ndarray) -> None:
        rows = [r for r, (i, d) in enumerate(zip(batch.reported.tolist(), batch.delivered.tolist()))
                if d and i in self._pending]
        if not rows:
            return
        rows_a = np.asarray(rows, dtype=np.int64)
        term = batch.terminated[rows_a]
        trunc = batch.truncated[rows_a] & ~term
        final_values = np.zeros(len(rows), dtype=np.float32)
        if trunc.any() and self._value_fn is not None:
            f_of_row = np.cumsum(done) - 1  # row of R -> row of F
            tr = rows_a[trunc]
            final_values[trunc] = self._value_fn(batch.final_obs[f_of_row[tr]], batch.reported[tr])
        ps = [self._pending.pop(i) for i in batch.reported[rows_a].tolist()]
        self._buffer.add(
            obs=np.stack([p.obs for p in ps]), actions=np.array([p.action for p in ps]),
            masks=np.stack([p.mask for p in ps]), rewards=batch.reward[rows_a].astype(np.float32),
            values=np.array([p.value for p in ps]), log_probs=np.array([p.log_prob for p in ps]),
            agent_index=batch.reported[rows_a], episode_start=np.array([p.episode_start for p in ps]),
            terminated=term, truncated=trunc, final_values=final_values,
            positions=np.array([p.position for p in ps], dtype=np.float64),
        )


def run_episode(env, act: ActFn | BatchPolicy, value_fn: ValueFn | None = None,
                buffer: Any = None, seed: int | None = None,
                after_step: Callable[[], None] | None = None) -> EpisodeStats:
    """Play one episode with ``act``; if ``buffer`` is given (a ``MultiAgentRolloutBuffer`` or
    anything with its ``add`` interface), store complete transitions. ``after_step`` runs after
    every env step (e.g. to read the simulation's edge times)."""
    worker = EnvWorker(env)
    collector = EpisodeCollector(worker.n_agents, buffer, value_fn)
    collector.begin(worker.reset(seed))
    while not collector.done:
        collector.observe(worker.step(collector.act(act)))
        if after_step is not None:
            after_step()
    return collector.finish()


def shortest_act(obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray):
    """The env's ``shortest`` reference policy as an :data:`ActFn` (values and log-probs 0)."""
    return zero_stats(shortest_actions(obs, mask))
