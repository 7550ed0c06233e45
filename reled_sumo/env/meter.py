"""Edge travel times measured over an episode: the mean of ``env.edge_travel_times()``
over the env steps (free flow where an edge was never measured)."""
from __future__ import annotations

import numpy as np


class EdgeTimeMeter:
    """Call :meth:`read` after every env step; :meth:`mean` gives ``[E]`` seconds."""

    def __init__(self, env):
        self._env = env
        self._sum: np.ndarray | None = None
        self._n: np.ndarray | None = None

    def read(self) -> None:
        tt = np.asarray(self._env.edge_travel_times(), dtype=np.float64)
        if self._sum is None:
            self._sum, self._n = np.zeros_like(tt), np.zeros_like(tt)
        seen = np.isfinite(tt)
        self._sum[seen] += tt[seen]
        self._n[seen] += 1

    def mean(self, freeflow: np.ndarray) -> np.ndarray:
        if self._sum is None:
            return np.asarray(freeflow, dtype=np.float64)
        return np.where(self._n > 0, self._sum / np.maximum(self._n, 1), freeflow)
