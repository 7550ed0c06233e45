"""Static routing tables of a scenario, computed once and cached (never per step).

For every distinct agent destination ``d`` (row ``r``) and every car edge ``e``:

* ``T[r, e]``: free-flow seconds from the *end* of ``e`` to the end of ``d``
  (:meth:`RoadGraph.cost_to`); ``D[r, e]``: shortest distance in metres, likewise.
* ``VT[r, e] = freeflow_time[e] + T[r, e]`` and ``VD[r, e] = length[e] + D[r, e]``: the
  same *via* ``e`` (from its start), which is what a candidate edge costs.
* ``is_decision[r, e]``: ``e`` is not ``d`` and has more than one successor from
  which ``d`` can still be reached.
* ``next_hop[r, e]``: the successor on the free-flow shortest path (-1 if none).
* ``path_signals[r, e]`` / ``path_lefts[r, e]``: signalised turns / left turns on that path
  from the end of ``e`` to ``d`` (the turn out of ``e`` included), counted by pointer doubling
  over ``next_hop`` (``log2 E`` vectorised steps, no loop over edges).

Shortest paths (edge-id tuples, candidate -> destination) are built from
``next_hop`` on first use and cached.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from reled_sumo.errors import ScenarioError
from reled_sumo.scenario.graph import TURN_LEFT, RoadGraph
from reled_sumo.scenario.manifest import Scenario

_GRAPH_CACHE: "OrderedDict[tuple[str, str], RoadGraph]" = OrderedDict()
_TABLE_CACHE: "OrderedDict[tuple, RoutingTables]" = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 4


def scenario_graph(scenario) -> RoadGraph:
    """The scenario's RoadGraph, cached by (path, scenario hash) across Scenario objects."""
    key = (str(Path(scenario.path).resolve()), scenario.scenario_hash)
    with _LOCK:
        g = _GRAPH_CACHE.get(key)
        if g is not None:
            _GRAPH_CACHE.move_to_end(key)
            return g
    g = scenario.graph
    with _LOCK:
        _GRAPH_CACHE[key] = g
        while len(_GRAPH_CACHE) > _CACHE_SIZE:
            _GRAPH_CACHE.popitem(last=False)
    return g


class RoutingTables:
    """Per-scenario, per-destination-set static arrays (see module docstring)."""

    def __init__(self, graph: RoadGraph, destinations: Sequence[str]):
        self.graph = graph
        self.edge_ids: tuple[str, ...] = graph.edge_ids
        self.index: dict[str, int] = graph.index
        self.E = graph.num_edges
        self.K = graph.max_successors
        self.succ = graph.succ
        self.real = graph.succ >= 0
        self.succ0 = np.where(self.real, graph.succ, 0)
        assert graph.turn is not None and graph.signal is not None  # filled by RoadGraph.__post_init__
        self.turn: np.ndarray = graph.turn
        self.signal: np.ndarray = graph.signal
        self.length = graph.length.astype(np.float64)
        self.speed = graph.speed.astype(np.float64)
        self.ff = np.asarray(graph.freeflow_time, dtype=np.float64)
        self.end_xy = graph.end_xy.astype(np.float64)
        self.num_real = self.real.sum(axis=1)
        missing = [d for d in destinations if d not in self.index]
        if missing:
            raise ScenarioError(f"destination edge(s) not in the car network: {missing[:5]}")
        uniq = list(dict.fromkeys(destinations))
        self.dest_row: dict[str, int] = {d: i for i, d in enumerate(uniq)}
        self.dest_edge = np.array([self.index[d] for d in uniq], dtype=np.int64)
        n = len(uniq)
        self.T = np.empty((n, self.E))
        self.D = np.empty((n, self.E))
        for r, de in enumerate(self.dest_edge):
            self.T[r] = graph.cost_to(int(de))
            self.D[r] = graph.cost_to(int(de), self.length)
        self.VT = self.ff[None, :] + self.T
        self.VD = self.length[None, :] + self.D
        self.is_decision = np.zeros((n, self.E), dtype=bool)
        self.next_hop = np.full((n, self.E), -1, dtype=np.int64)
        next_k = np.zeros((n, self.E), dtype=np.int64)
        for r in range(n):
            vt = np.where(self.real, self.VT[r][self.succ0], np.inf)  # [E, K]
            valid = np.isfinite(vt)
            self.is_decision[r] = valid.sum(axis=1) > 1
            k = np.argmin(vt, axis=1)
            has = valid.any(axis=1)
            self.next_hop[r] = np.where(has, self.succ0[np.arange(self.E), k], -1)
            next_k[r] = k
        self.is_decision[np.arange(n), self.dest_edge] = False
        self.path_signals, self.path_lefts = self._path_counts(next_k)
        self._paths: dict[tuple[int, int], tuple[str, ...]] = {}

    def _path_counts(self, next_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[rows, E]`` signalised turns and left turns on the free-flow shortest path from the end
        of each edge to each destination (0 at the destination and where it cannot be reached)."""
        n, E = self.next_hop.shape
        edges = np.arange(E)
        on_path = (self.next_hop >= 0) & (edges[None, :] != self.dest_edge[:, None])
        hop = np.where(on_path, self.next_hop, edges[None, :])  # the destination / dead ends: a sink
        out = []
        for per_turn in (self.signal.astype(np.float64), (self.turn == TURN_LEFT).astype(np.float64)):
            count = np.where(on_path, per_turn[edges[None, :], next_k], 0.0)
            ptr = hop.copy()
            for _ in range(max(1, int(np.ceil(np.log2(max(E, 2))))) + 1):
                count = count + np.take_along_axis(count, ptr, axis=1)
                ptr = np.take_along_axis(ptr, ptr, axis=1)
            out.append(count)
        return out[0], out[1]

    def path(self, row: int, start: int) -> tuple[str, ...]:
        """Edge ids of the free-flow shortest path from ``start`` to destination ``row`` (inclusive)."""
        key = (row, start)
        p = self._paths.get(key)
        if p is not None:
            return p
        dest = int(self.dest_edge[row])
        if not np.isfinite(self.T[row, start]):
            raise ScenarioError(f"no route from edge {self.edge_ids[start]} to {self.edge_ids[dest]}")
        out, cur, nh = [start], start, self.next_hop[row]
        while cur != dest:
            cur = int(nh[cur])
            out.append(cur)
            if len(out) > self.E:  # pragma: no cover - a broken table
                raise ScenarioError("shortest path did not terminate")
        ids = self.edge_ids
        p = tuple(ids[i] for i in out)
        self._paths[key] = p
        return p

    @classmethod
    def for_scenario(cls, scenario: Scenario, destinations: Sequence[str]) -> "RoutingTables":
        """Cached by (scenario path, scenario hash, destinations)."""
        key = (str(Path(scenario.path).resolve()), scenario.scenario_hash, tuple(destinations))
        with _LOCK:
            t = _TABLE_CACHE.get(key)
            if t is not None:
                _TABLE_CACHE.move_to_end(key)
                return t
        t = cls(scenario_graph(scenario), destinations)
        with _LOCK:
            _TABLE_CACHE[key] = t
            while len(_TABLE_CACHE) > _CACHE_SIZE:
                _TABLE_CACHE.popitem(last=False)
        return t
