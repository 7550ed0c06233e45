"""Edge travel times measured over an episode, as SUMO's edge data would report them.

Every ``period_s`` simulated seconds the meter reads every car edge's mean speed and
vehicle count (one batched read through ``env.edge_loads()``) and accumulates
vehicle-seconds and vehicle-metres: the mean speed of an edge over the episode is
``sum(n * dt * v) / sum(n * dt)`` (weighted by how long how many vehicles were there,
per simulated second, not per env step), and its travel time is ``length / that speed``,
at least free flow. Edges no vehicle used keep their free-flow time. A queue standing at
a red light therefore counts for the seconds it stands there, not once per env step.
"""
from __future__ import annotations

import numpy as np


class EdgeTimeMeter:
    """Call :meth:`read` after every env step; :meth:`mean` gives ``[E]`` seconds."""

    def __init__(self, env, period_s: float = 5.0):
        self._env, self.period_s = env, float(period_s)
        self._last: float | None = None
        self._vs: np.ndarray | None = None
        self._n: np.ndarray | None = None

    def read(self) -> None:
        t = float(self._env.sim_time)
        if self._last is not None and t - self._last < self.period_s:
            return
        dt = self.period_s if self._last is None else t - self._last
        self._last = t
        speed, count = self._env.edge_loads(occupied_only=True)  # empty edges' speeds are not used
        if self._n is None or self._vs is None:
            self._vs, self._n = np.zeros_like(speed), np.zeros_like(speed)
        ok = np.isfinite(speed) & np.isfinite(count) & (count > 0)
        w = np.where(ok, count, 0.0) * dt
        self._n += w
        self._vs += w * np.where(ok, speed, 0.0)

    def mean(self, freeflow: np.ndarray, length: np.ndarray | None = None) -> np.ndarray:
        """``[E]`` travel time (s); ``length`` defaults to the env's edge lengths."""
        ff = np.asarray(freeflow, dtype=np.float64)
        if self._n is None:
            return ff.copy()
        length = self._env.scenario.graph.length if length is None else length
        used = self._n > 0
        v = np.where(used, self._vs / np.maximum(self._n, 1e-12), 1.0)
        return np.where(used, np.maximum(length / np.maximum(v, 0.1), ff), ff)
