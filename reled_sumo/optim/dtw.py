"""Dynamic-time-warping distance between agent and expert paths, batched over pairs.

A path is a polyline of ``(x, y)`` positions in metres (one per decision). Both paths
of a pair are first resampled to ``n`` points equally spaced by arc length
(:func:`resample_polyline`), which removes the dependence on how often each agent
decided. Then, with Euclidean point cost ``c(i, j) = ||a_i - b_j||``::

    D(0, 0) = 0,  D(i, 0) = D(0, j) = inf            (i, j >= 1)
    D(i, j) = c(i, j) + min(D(i-1, j), D(i, j-1), D(i-1, j-1))
    dtw(a, b) = D(n, m) / max(n, m)

Normalisation: dividing by ``max(n, m)`` (= ``n`` after resampling both paths to ``n``
points) makes the distance a mean matched-point distance in metres, independent of
``n``. Identical paths give 0; two parallel straight paths ``h`` metres apart give ``h``.

:func:`dtw_batch` fills the DP table one anti-diagonal ``i + j = k`` at a time; all
cells of a diagonal depend only on the two previous diagonals, so each step is one
vectorised numpy operation over ``[batch, cells]``. The loop runs ``n + m - 1`` times
regardless of the batch size. :func:`dtw_reference` is the plain recursion, kept only
as a test oracle.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)


def resample_polyline(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along ``points[T, 2]`` (endpoints kept).

    A single point, or a path of zero length, is repeated ``n`` times.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        raise ValueError("cannot resample an empty path")
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc = np.concatenate(([0.0], np.cumsum(seg)))
    if arc[-1] <= 0.0:
        return np.repeat(pts[:1], n, axis=0)
    keep = np.concatenate(([True], seg > 0))  # np.interp needs strictly increasing arc length
    arc, pts = arc[keep], pts[keep]
    target = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(target, arc, pts[:, 0]), np.interp(target, arc, pts[:, 1])], axis=1)


def dtw_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised DTW distance of each pair ``(a[k], b[k])``; ``a[B, n, 2]``, ``b[B, m, 2]`` -> ``[B]``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(f"expected a[B, n, d] and b[B, m, d], got {a.shape} and {b.shape}")
    n_batch, n, m = a.shape[0], a.shape[1], b.shape[1]
    if n == 0 or m == 0:
        raise ValueError("paths must have at least one point")
    cost = np.linalg.norm(a[:, :, None, :] - b[:, None, :, :], axis=-1)  # [B, n, m]
    acc = np.full((n_batch, n + 1, m + 1), np.inf)
    acc[:, 0, 0] = 0.0
    for k in range(2, n + m + 1):  # anti-diagonal i + j = k (1-based cells)
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        best_prev = np.minimum(np.minimum(acc[:, i - 1, j], acc[:, i, j - 1]), acc[:, i - 1, j - 1])
        acc[:, i, j] = cost[:, i - 1, j - 1] + best_prev
    return acc[:, n, m] / max(n, m)


def dtw_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Plain recursive DTW with the same normalisation (test oracle; small inputs only)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)

    @lru_cache(maxsize=None)
    def acc(i: int, j: int) -> float:
        if i == 0 and j == 0:
            return 0.0
        if i == 0 or j == 0:
            return float("inf")
        step = min(acc(i - 1, j), acc(i, j - 1), acc(i - 1, j - 1))
        return float(np.linalg.norm(a[i - 1] - b[j - 1])) + step

    return acc(len(a), len(b)) / max(len(a), len(b))


def path_dtw(
    agent_paths: Sequence[np.ndarray | None],
    expert_paths: Sequence[np.ndarray | None],
    n_points: int = 32,
) -> np.ndarray:
    """DTW of agent ``i``'s path against expert path ``i`` for every ``i``.

    Paths are resampled to ``n_points``. Entries where either path is ``None`` or
    empty are NaN (no demonstration / no movement recorded yet).
    """
    if len(agent_paths) != len(expert_paths):
        raise ValueError(f"{len(agent_paths)} agent paths but {len(expert_paths)} expert paths")
    out = np.full(len(agent_paths), np.nan)
    valid = [i for i, (p, q) in enumerate(zip(agent_paths, expert_paths))
             if p is not None and q is not None and len(p) > 0 and len(q) > 0]
    if not valid:
        return out
    a = np.stack([resample_polyline(agent_paths[i], n_points) for i in valid])  # type: ignore[arg-type]  # valid: not None
    b = np.stack([resample_polyline(expert_paths[i], n_points) for i in valid])  # type: ignore[arg-type]
    out[valid] = dtw_batch(a, b)
    return out


def timed_path_dtw(
    agent_paths: Sequence[np.ndarray | None],
    expert_paths: Sequence[np.ndarray | None],
    n_points: int = 32,
) -> tuple[np.ndarray, float]:
    """:func:`path_dtw` plus its wall-clock compute time in seconds."""
    start = time.perf_counter()
    distances = path_dtw(agent_paths, expert_paths, n_points)
    seconds = time.perf_counter() - start
    log.debug("DTW of %d path pairs (%d points each) took %.4f s", len(distances), n_points, seconds)
    return distances, seconds
