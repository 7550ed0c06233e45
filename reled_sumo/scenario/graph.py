"""Static road graph of a SUMO network, for routing decisions (no TraCI here).

The graph is the *line graph* of the network: one node per car-usable edge, an arc
e -> f when a passenger-car connection leads from e to f. Every routing decision in
reled-sumo is a choice among an edge's successors, so this is the natural graph.

Everything is precomputed once per scenario as numpy arrays:

* ``succ[E, K]``: successor edge indices, padded with -1, K = max out-degree.
* ``length``, ``speed`` (speed limit), ``freeflow_time`` = length / speed.
* ``end_xy[E, 2]``: the coordinates of the edge's end (its junction), for directions and DTW.

Shortest-path costs to a destination are computed for *all* edges at once with
scipy's Dijkstra on the reversed line graph, and cached per destination.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from reled_sumo.errors import ScenarioError

log = logging.getLogger(__name__)

VCLASS = "passenger"
TURN_STRAIGHT, TURN_LEFT, TURN_RIGHT, TURN_UTURN = 0, 1, 2, 3


def _turn_code(direction: str) -> int:
    """SUMO's connection ``dir`` (s, l, L, r, R, t, T, invalid) -> TURN_*."""
    d = (direction or "s").lower()
    return TURN_UTURN if d == "t" else TURN_LEFT if d == "l" else TURN_RIGHT if d == "r" else TURN_STRAIGHT


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """Car-usable edges of a SUMO net and their successor structure (immutable)."""

    edge_ids: tuple[str, ...]
    from_junction: tuple[str, ...]
    to_junction: tuple[str, ...]
    names: tuple[str, ...]
    length: np.ndarray  # [E] metres
    speed: np.ndarray  # [E] m/s (speed limit)
    lanes: np.ndarray  # [E] number of lanes usable by cars
    end_xy: np.ndarray  # [E, 2] metres
    succ: np.ndarray  # [E, K] int, -1 padded
    index: dict[str, int] = field(repr=False)
    turn: np.ndarray | None = field(default=None, repr=False)  # [E, K] int8 TURN_* of edge -> succ[e, k]
    signal: np.ndarray | None = field(default=None, repr=False)  # [E, K] bool: that turn is signalised

    def __post_init__(self) -> None:
        if self.turn is None:  # geometry unknown: straight, unsignalised
            object.__setattr__(self, "turn", np.zeros(self.succ.shape, dtype=np.int8))
        if self.signal is None:
            object.__setattr__(self, "signal", np.zeros(self.succ.shape, dtype=bool))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_net_file(cls, net_file: str | Path) -> "RoadGraph":
        import sumolib  # local: heavy import only when a net is read

        try:
            net = sumolib.net.readNet(str(net_file), withInternal=False)
        except Exception as exc:  # sumolib raises plain exceptions on bad XML
            raise ScenarioError(f"cannot read SUMO network {net_file}: {exc}") from exc
        edges = [e for e in net.getEdges(withInternal=False) if e.allows(VCLASS)]
        if not edges:
            raise ScenarioError(f"network {net_file} has no edges usable by passenger cars")
        return cls.from_sumolib_edges(edges)

    @classmethod
    def from_sumolib_edges(cls, edges) -> "RoadGraph":
        ids = tuple(e.getID() for e in edges)
        index = {eid: i for i, eid in enumerate(ids)}
        succ_lists: list[list[int]] = []
        kinds: list[dict[int, tuple[int, bool]]] = []
        for e in edges:
            out: dict[int, tuple[int, bool]] = {}
            for to_edge, conns in e.getOutgoing().items():
                j = index.get(to_edge.getID())
                if j is None:
                    continue
                car = [c for c in conns if c.getFromLane().allows(VCLASS) and c.getToLane().allows(VCLASS)]
                if car:
                    out[j] = (_turn_code(car[0].getDirection()), any(c.getTLSID() for c in car))
            succ_lists.append(sorted(out))
            kinds.append(out)
        k = max(1, max(len(s) for s in succ_lists))
        succ = np.full((len(ids), k), -1, dtype=np.int64)
        turn = np.zeros((len(ids), k), dtype=np.int8)
        signal = np.zeros((len(ids), k), dtype=bool)
        for i, s in enumerate(succ_lists):
            succ[i, : len(s)] = s
            for slot, j in enumerate(s):
                turn[i, slot], signal[i, slot] = kinds[i][j]
        end_xy = np.array([e.getShape()[-1][:2] for e in edges], dtype=np.float64)
        lanes = np.array([sum(1 for ln in e.getLanes() if ln.allows(VCLASS)) for e in edges])
        return cls(
            edge_ids=ids,
            from_junction=tuple(e.getFromNode().getID() for e in edges),
            to_junction=tuple(e.getToNode().getID() for e in edges),
            names=tuple(e.getName() or "" for e in edges),
            length=np.array([e.getLength() for e in edges], dtype=np.float64),
            speed=np.array([e.getSpeed() for e in edges], dtype=np.float64),
            lanes=lanes.astype(np.int64),
            end_xy=end_xy,
            succ=succ,
            index=index,
            turn=turn,
            signal=signal,
        )

    # -------------------------------------------------------------- structure
    @property
    def num_edges(self) -> int:
        return len(self.edge_ids)

    @property
    def max_successors(self) -> int:
        return int(self.succ.shape[1])

    @functools.cached_property
    def freeflow_time(self) -> np.ndarray:
        return self.length / np.maximum(self.speed, 0.1)

    @functools.cached_property
    def num_successors(self) -> np.ndarray:
        return (self.succ >= 0).sum(axis=1)

    @functools.cached_property
    def _arcs(self) -> tuple[np.ndarray, np.ndarray]:
        """(from, to) edge indices of every arc of the line graph."""
        rows, cols = np.nonzero(self.succ >= 0)
        return rows, self.succ[rows, cols]

    @functools.cached_property
    def _adjacency(self) -> csr_matrix:
        """Sparse line graph; arc e->f weighs the free-flow time of f (cost of entering f)."""
        return self._weighted(self.freeflow_time, reverse=False)

    @functools.cached_property
    def _reverse_template(self) -> tuple[csr_matrix, np.ndarray]:
        """Reversed line graph (f -> e) as CSR, and for each stored entry the edge f it enters.

        Only the data array changes with the weights, so dynamic Dijkstra calls reuse the
        structure instead of rebuilding a sparse matrix.
        """
        src, dst = self._arcs
        rev = csr_matrix((np.arange(1, len(src) + 1, dtype=np.float64), (dst, src)),
                         shape=(self.num_edges, self.num_edges))
        arc_of_entry = rev.data.astype(np.int64) - 1
        return rev, dst[arc_of_entry]

    def _weighted(self, weights: np.ndarray, reverse: bool) -> csr_matrix:
        if reverse:
            rev, entered = self._reverse_template
            out = rev.copy()
            out.data = np.asarray(weights, dtype=np.float64)[entered] + 1e-9
            return out
        src, dst = self._arcs
        return csr_matrix((np.asarray(weights)[dst] + 1e-9, (src, dst)), shape=(self.num_edges, self.num_edges))

    def strongly_connected_mask(self) -> np.ndarray:
        """Boolean [E]: edges in the largest strongly connected component."""
        _, labels = connected_components(self._adjacency, directed=True, connection="strong")
        biggest = np.bincount(labels).argmax()
        return labels == biggest

    def is_strongly_connected(self) -> bool:
        return bool(self.strongly_connected_mask().all())

    def successors(self, edge: int) -> np.ndarray:
        row = self.succ[edge]
        return row[row >= 0]

    def edges_from_junction(self, junction: str) -> list[int]:
        return [i for i, j in enumerate(self.from_junction) if j == junction]

    @functools.cached_property
    def junctions(self) -> frozenset[str]:
        return frozenset(self.from_junction) | frozenset(self.to_junction)

    # ---------------------------------------------------------- shortest paths
    def cost_to(self, dest: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Cost [E] from the *end* of each edge to the end of ``dest`` (inf if unreachable).

        ``weights`` (per-edge traversal cost, default free-flow time) may be the
        current travel times; static costs are cached per destination.
        """
        if weights is None:
            return self._static_cost_to(dest)
        return self._dijkstra_to(dest, weights)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - a graph lives as long as its scenario's tables
    def _static_cost_to(self, dest: int) -> np.ndarray:
        out = self._dijkstra_to(dest, self.freeflow_time)
        out.setflags(write=False)
        return out

    def _dijkstra_to(self, dest: int, weights: np.ndarray) -> np.ndarray:
        # reversed graph: distances *to* dest (entering edge f costs weights[f])
        dist = dijkstra(self._weighted(weights, reverse=True), directed=True, indices=dest)
        return np.asarray(dist, dtype=np.float64)

    def reverse_graph(self, weights: np.ndarray) -> csr_matrix:
        """The reversed line graph weighted by ``weights``, for repeated :meth:`cost_to_many`
        calls with the same weights (``reverse=...``)."""
        return self._weighted(weights, reverse=True)

    def cost_to_many(self, dests: np.ndarray, weights: np.ndarray, reverse: csr_matrix | None = None) -> np.ndarray:
        """``[len(dests), E]`` cost from the end of each edge to the end of each destination,
        one batched Dijkstra over all destinations (``weights``: per-edge traversal cost;
        ``reverse``: :meth:`reverse_graph` of these weights, if already built)."""
        dests = np.asarray(dests, dtype=np.int64)
        if not dests.size:
            return np.zeros((0, self.num_edges))
        graph = reverse if reverse is not None else self._weighted(weights, reverse=True)
        dist = dijkstra(graph, directed=True, indices=dests)
        return np.asarray(dist, dtype=np.float64).reshape(len(dests), self.num_edges)

    def cost_via(self, dest: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Cost [E]: traverse the edge itself, then go on to ``dest``: w[e] + cost_to(dest)[e]."""
        w = self.freeflow_time if weights is None else np.asarray(weights)
        return w + self.cost_to(dest, weights)

    def shortest_path(self, src: int, dest: int, weights: np.ndarray | None = None) -> list[int] | None:
        """Edge indices from ``src`` to ``dest`` inclusive, greedy on cost_to; None if unreachable."""
        to = self.cost_to(dest, weights)
        if not np.isfinite(to[src]):
            return None
        w = self.freeflow_time if weights is None else np.asarray(weights)
        path, cur = [src], src
        while cur != dest:
            nxt = self.successors(cur)
            cur = int(nxt[np.argmin(w[nxt] + to[nxt])])
            path.append(cur)
            if len(path) > self.num_edges:  # pragma: no cover - guards against a broken cost table
                raise ScenarioError("shortest path did not terminate")
        return path

    def route_ids(self, path: list[int]) -> list[str]:
        return [self.edge_ids[i] for i in path]

    def is_valid_route(self, path: list[int]) -> bool:
        return all(b in self.successors(a) for a, b in zip(path, path[1:]))
