"""Path helpers on the RoadGraph line graph shared by the experts.

Arc ``e -> f`` costs ``w[f]`` (the cost of entering and traversing ``f``), the same
convention as :meth:`RoadGraph.cost_to`.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph

_INCOMING: "weakref.WeakKeyDictionary[RoadGraph, dict[str, tuple[int, ...]]]" = (
    weakref.WeakKeyDictionary()
)


def incoming_edges(graph: "RoadGraph") -> dict[str, tuple[int, ...]]:
    """Junction id -> edges that end there (cached per graph)."""
    cached = _INCOMING.get(graph)
    if cached is None:
        acc: dict[str, list[int]] = {}
        for i, j in enumerate(graph.to_junction):
            acc.setdefault(j, []).append(i)
        cached = {j: tuple(v) for j, v in acc.items()}
        _INCOMING[graph] = cached
    return cached


def weighted_adjacency(graph: "RoadGraph", weights: np.ndarray) -> csr_matrix:
    """Sparse line graph with arc e->f weighing ``weights[f]`` (plus a tiny epsilon)."""
    rows, cols = np.nonzero(graph.succ >= 0)
    dst = graph.succ[rows, cols]
    data = np.asarray(weights, dtype=np.float64)[dst] + 1e-9
    return csr_matrix((data, (rows, dst)), shape=(graph.num_edges, graph.num_edges))


def path_from_costs(
    graph: "RoadGraph", src: int, dest: int, to: np.ndarray, weights: np.ndarray
) -> list[int] | None:
    """Greedy descent on a cost-to-``dest`` table (from ``graph.cost_to``); None if unreachable."""
    if not np.isfinite(to[src]):
        return None
    path, cur = [src], src
    while cur != dest:
        nxt = graph.successors(cur)
        cur = int(nxt[np.argmin(weights[nxt] + to[nxt])])
        path.append(cur)
        if len(path) > graph.num_edges:  # pragma: no cover - broken cost table
            return None
    return path


def shortest_path(graph: "RoadGraph", src: int, dest: int, weights: np.ndarray) -> list[int] | None:
    """Shortest path src -> dest (both included) under ``weights``; None if unreachable."""
    if src == dest:
        return [src]
    return path_from_costs(graph, src, dest, graph.cost_to(dest, weights), weights)


def path_to_any(
    graph: "RoadGraph", src: int, targets: Sequence[int], weights: np.ndarray
) -> list[int] | None:
    """Cheapest path from ``src`` to the nearest edge in ``targets`` (src excluded); None if none.

    One forward Dijkstra from ``src``; used to join an edge to a junction.
    """
    targets = [t for t in targets if t != src]
    if not targets:
        return None
    dist, pred = dijkstra(
        weighted_adjacency(graph, weights), directed=True, indices=src, return_predecessors=True
    )
    best = min(targets, key=lambda t: dist[t])
    if not np.isfinite(dist[best]):
        return None
    path = [best]
    while pred[path[-1]] != src:
        path.append(int(pred[path[-1]]))
        if pred[path[-1]] < 0 or len(path) > graph.num_edges:  # pragma: no cover
            return None
    return path[::-1]


def remove_cycles(path: Sequence[int]) -> list[int]:
    """Drop loops: when an edge repeats, cut everything between its occurrences."""
    out: list[int] = []
    pos: dict[int, int] = {}
    for e in path:
        if e in pos:
            cut = pos[e]
            for dropped in out[cut + 1 :]:
                del pos[dropped]
            del out[cut + 1 :]
            continue
        pos[e] = len(out)
        out.append(e)
    return out


def k_alternative_paths(
    graph: "RoadGraph", src: int, dest: int, weights: np.ndarray, k: int, factor: float
) -> list[list[int]]:
    """Up to ``k`` distinct paths by iterative penalisation of the edges already used."""
    w = np.array(weights, dtype=np.float64)
    paths: list[list[int]] = []
    for _ in range(max(1, k) * 2):
        p = shortest_path(graph, src, dest, w)
        if p is None:
            break
        if p not in paths:
            paths.append(p)
            if len(paths) >= k:
                break
        w[p] *= factor
    return paths
