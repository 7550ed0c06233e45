"""Live travel times to every agent destination, for the ``live_via_time`` observation feature.

Two estimates of each car edge's current travel time (``EnvConfig.live_estimate``):

* ``"speed_window"`` (default), what SUMO's rerouting device does: every ``sample_s``
  simulated seconds the env reads every edge's last-step mean speed (one batched read; an
  empty edge reads its speed limit), keeps the last ``window_s / sample_s`` readings, and at
  each refresh converts the window's *mean speed* to a time, ``length / mean speed``. A queue
  that stands at a red light for part of the window lowers the mean speed only by the share
  of the window it stood, so a signal cycle reads as the delay it causes on average, not as
  a jam (the snapshot below reads a queue caught at red as up to ``CLIP`` x free flow).
  Averaging speeds, not times, matters: a time average is dominated by the stopped readings.
* ``"snapshot"`` (the estimate before 2026-12): one reading of SUMO's travel time per edge
  at each refresh (length / last-step mean speed), smoothed with an exponential moving
  average (weight ``ALPHA`` on the new reading).

Both clip to ``[free flow, CLIP x free flow]``. Every ``period_s`` the times are refreshed,
and ``via[row, e]`` is "traverse ``e``, then the fastest way to destination ``row``" in
seconds on those times.

The rows are filled lazily: a refresh only marks every row stale, and :meth:`current`
runs one batched Dijkstra (:meth:`RoadGraph.cost_to_many`, the code the routing expert
uses too) over the stale rows the caller needs now (the destinations of this step's
deciders). A row is computed at most once per refresh, and only if some agent with
that destination observes in that period, so with many agents (hundreds of
destinations) the cost follows the decisions, not the number of destinations.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

CLIP = 20.0
ALPHA = 0.5
MIN_SPEED = 0.1  # m/s: a window in which an edge never moved reads as CLIP x free flow, not infinity
ESTIMATES = ("speed_window", "snapshot")
#: the speed window's defaults (EnvConfig.live_window_s / live_sample_s take them from here); the reading was
#: every 1 s before 2026-12-06 (docs/env.md, "Live times")
WINDOW_S = 60.0
SAMPLE_S = 5.0


class SpeedWindow:
    """Each edge's mean speed over the last ``n`` readings (a ring buffer, all edges at once).

    Starts full of free-flow speeds, as SUMO's rerouting device does, so the first minute
    of an episode is not read as an empty history."""

    def __init__(self, free_speed: np.ndarray, n: int):
        if n < 1:
            raise ValueError(f"a speed window needs at least one reading, got {n}")
        self.free = np.asarray(free_speed, dtype=np.float64)
        self.ring = np.empty((int(n), self.free.size))
        self.reset()

    def reset(self) -> None:
        self.ring[:] = self.free
        self.sum = self.ring.sum(axis=0)
        self.pos = 0

    def add(self, speeds: np.ndarray) -> None:
        new = np.where(np.isfinite(speeds), speeds, self.free)
        self.sum += new - self.ring[self.pos]
        self.ring[self.pos] = new
        self.pos = (self.pos + 1) % len(self.ring)

    def mean(self) -> np.ndarray:
        return self.sum / len(self.ring)

    def times(self, length: np.ndarray, ff: np.ndarray) -> np.ndarray:
        """``length / mean speed``, clipped to ``[ff, CLIP * ff]``."""
        return np.clip(length / np.maximum(self.mean(), MIN_SPEED), ff, CLIP * ff)


class LiveTimes:
    def __init__(self, tables, period_s: float, estimate: str = "speed_window",
                 window_s: float = WINDOW_S, sample_s: float = SAMPLE_S):
        if estimate not in ESTIMATES:
            raise ValueError(f"live estimate must be one of {ESTIMATES}, got {estimate!r}")
        self.tables, self.period_s, self.estimate = tables, float(period_s), estimate
        self.sample_s = float(sample_s)
        self.window = (SpeedWindow(tables.length / np.maximum(tables.ff, 1e-9),
                                   max(1, int(round(window_s / sample_s))))
                       if estimate == "speed_window" else None)
        self.reset()

    def reset(self) -> None:
        t = self.tables
        self.edge_time = t.ff.copy()
        self.via = t.VT.copy()  # free flow until the first reading (own copy: rows are filled in place)
        self._stale = np.zeros(len(t.dest_edge), dtype=bool)
        self._reverse = None
        self._next = -np.inf
        self._next_sample = -np.inf if self.window is not None else np.inf
        if self.window is not None:
            self.window.reset()
        self.refreshes = 0
        self.rows_computed = 0
        self.samples = 0

    def tick(self, sim_time: float, read_edge_speeds: Callable[[], np.ndarray]) -> None:
        """Called after every simulation step: takes a speed reading when ``sample_s`` has passed."""
        if sim_time >= self._next_sample:
            self._next_sample = sim_time + self.sample_s - 1e-9
            self.window.add(np.asarray(read_edge_speeds(), dtype=np.float64))  # type: ignore[union-attr]
            self.samples += 1

    def current(self, sim_time: float, read_edge_times: Callable[[], np.ndarray], rows=None) -> np.ndarray:
        """``via[rows, E]``, refreshed first if ``period_s`` has passed (``read_edge_times() -> [E]``,
        read only by the ``snapshot`` estimate).

        Only the given destination ``rows`` are guaranteed current (None: all rows)."""
        if sim_time >= self._next:
            self._next = sim_time + self.period_s
            if self.window is not None:
                self.set_edge_times(self.window.times(self.tables.length, self.tables.ff))
            else:
                self.update(np.asarray(read_edge_times(), dtype=np.float64))
        stale = self._stale
        need: np.ndarray | None
        if rows is None:
            need = np.flatnonzero(stale)
        else:  # a few rows per step: plain Python until some row is stale
            few = sorted({r for r in rows if stale[r]})
            need = np.array(few, dtype=np.int64) if few else None
        if need is not None and need.size:
            t = self.tables
            if self._reverse is None:  # built once per refresh, shared by the refresh's Dijkstra calls
                self._reverse = t.graph.reverse_graph(self.edge_time)
            to_dest = t.graph.cost_to_many(t.dest_edge[need], self.edge_time, self._reverse)
            self.via[need] = self.edge_time[None, :] + to_dest
            stale[need] = False
            self.rows_computed += int(need.size)
        return self.via

    def update(self, raw: np.ndarray) -> None:
        """The ``snapshot`` estimate: clip a reading of travel times, then smooth it (EMA)."""
        t = self.tables
        raw = np.where(np.isfinite(raw), raw, t.ff)
        now = np.clip(raw, t.ff, CLIP * t.ff)
        self.set_edge_times((1 - ALPHA) * self.edge_time + ALPHA * now if self.refreshes else now)

    def set_edge_times(self, edge_time: np.ndarray) -> None:
        self.edge_time = edge_time
        self._stale[:] = True
        self._reverse = None
        self.refreshes += 1
