"""Observation layout and the batched builder (all deciding agents at once, numpy only).

An observation is a float32 vector ``[own (N_OWN) | candidate 0 (N_CAND) | ... | candidate K-1]``
of length ``N_OWN + K * N_CAND``. Candidate ``k`` is ``graph.succ[edge, k]``; a padded
or invalid slot is all zeros (its ``valid`` flag is 0). Values are divided by the
:class:`~reled_sumo.env.config.ObsNorm` constants and lie in [OBS_LOW, OBS_HIGH].
See docs/env.md for the table.
"""
from __future__ import annotations

import threading
import weakref
from typing import Callable, NamedTuple, Sequence

import numpy as np

from reled_sumo.env.config import ObsNorm
from reled_sumo.env.tables import RoutingTables
from reled_sumo.scenario.graph import TURN_LEFT, TURN_RIGHT, TURN_UTURN

OBS_LOW = -1.0
OBS_HIGH = 100.0

# own features
OWN_ELAPSED = 0  # seconds since departure / time_s
OWN_REM_TIME = 1  # free-flow seconds to the destination from the current position / time_s
OWN_REM_DIST = 2  # shortest distance to the destination from the current position / distance_m
OWN_SPEED = 3  # agent's speed / speed_mps
OWN_DIR_X = 4  # unit vector from the agent to the end of its destination edge
OWN_DIR_Y = 5
OWN_EUCLID = 6  # straight-line distance to the destination / distance_m
OWN_EDGE_LENGTH = 7  # current edge length / length_m
OWN_EDGE_SPEED_LIMIT = 8  # / speed_mps
OWN_EDGE_MEAN_SPEED = 9  # current edge mean speed (last step; the limit when empty) / speed_mps
OWN_EDGE_VEHICLES = 10  # vehicles on the current edge / vehicles
OWN_NUM_VALID = 11  # valid candidates / K
N_OWN = 12
OWN_NAMES = (
    "elapsed", "remaining_time", "remaining_distance", "speed", "dir_x", "dir_y", "euclidean_distance",
    "edge_length", "edge_speed_limit", "edge_mean_speed", "edge_vehicles", "num_valid",
)

# per-candidate features
C_VALID = 0  # 1 if the candidate is a real successor that can still reach the destination
C_LENGTH = 1  # / length_m
C_SPEED_LIMIT = 2  # / speed_mps
C_MEAN_SPEED = 3  # last-step mean speed (the limit when empty) / speed_mps
C_TRAVEL_TIME = 4  # length / max(mean speed, 0.1) / time_s, at most OBS_HIGH
C_OCCUPANCY = 5  # last-step occupancy, fraction 0..1
C_VEHICLES = 6  # vehicles on it / vehicles
C_VIA_TIME = 7  # free-flow seconds to the destination via the candidate (from its start) / time_s
C_VIA_DIST = 8  # shortest distance to the destination via the candidate / distance_m
C_EXTRA_TIME = 9  # C_VIA_TIME minus the best valid candidate's / time_s
C_HEADING = 10  # cosine between the candidate's displacement and the current edge end -> destination
C_LIVE_VIA_TIME = 11  # seconds to the destination via the candidate on live edge times / time_s
C_LIVE_EXTRA_TIME = 12  # C_LIVE_VIA_TIME minus the best valid candidate's / time_s
C_UTURN = 13  # 1: turning back (SUMO connection dir "t")
C_LEFT = 14  # 1: a left turn
C_RIGHT = 15  # 1: a right turn (neither: straight on)
C_PATH_SIGNALS = 16  # signalised turns on the candidate's free-flow shortest path onwards / PATH_COUNT
C_PATH_LEFTS = 17  # left turns on that path / PATH_COUNT
N_CAND = 18
CAND_NAMES = (
    "valid", "length", "speed_limit", "mean_speed", "travel_time", "occupancy", "vehicles",
    "via_time", "via_distance", "extra_time", "heading_cos", "live_via_time", "live_extra_time",
    "uturn", "left", "right", "path_signals", "path_lefts",
)
#: divisor of the path counts (turns along a path)
PATH_COUNT = 10.0
# (Until 2026-12 feature 16 was "the turn at the current junction is signalised": every turn of a
# junction shares its traffic light, so it never differed between candidates.)


def obs_size(k: int) -> int:
    return N_OWN + k * N_CAND


def cand_slice(k: int, feature: int) -> slice:
    """Columns of ``feature`` for candidates 0..K-1 in the flat observation."""
    return slice(N_OWN + feature, N_OWN + k * N_CAND, N_CAND)


class Batch(NamedTuple):
    obs: np.ndarray  # [n, dim] float32
    mask: np.ndarray  # [n, K] int8
    cand: list[list[int]]  # [n][K] edge index, -1 padded
    best_k: list[int]  # [n] slot with the lowest via-time (-1 if none valid)
    remaining: list[float]  # [n] free-flow seconds to the destination from the current position


class ObservationBuilder:
    """Builds observations for a batch of agents with a fixed, small number of numpy ops.

    Everything that depends only on (destination, current edge) -- candidate lengths,
    limits, via-times/distances, heading, mask, best slot -- is computed once per pair
    (vectorised over the missing pairs of a batch) and kept in slot arrays; a dense
    ``[destination rows, E]`` table maps a pair to its slot. A batch gathers those rows
    and fills in the dynamic features (own state, the traffic on the current edge and the
    valid candidates, live times) with array operations only: no Python loop per agent
    or per pair.

    The static data depend only on the tables and the norm, so envs of the same scenario
    and agents in one process share one builder (:meth:`shared`): a new env (the next
    evaluation, benchmark repeat or rollout worker episode) starts with the pairs the
    previous ones cached. A lock makes a shared builder safe across threads.
    """

    _shared: "weakref.WeakKeyDictionary[RoutingTables, dict[ObsNorm, ObservationBuilder]]" = \
        weakref.WeakKeyDictionary()
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, tables: RoutingTables, norm: ObsNorm) -> "ObservationBuilder":
        """The builder of these tables and norm in this process (made on first use)."""
        with cls._shared_lock:
            per = cls._shared.setdefault(tables, {})
            b = per.get(norm)
            if b is None:
                b = per[norm] = cls(tables, norm)
            return b

    def __init__(self, tables: RoutingTables, norm: ObsNorm):
        self.t = tables
        self.n = norm
        self.K = K = tables.K
        self.dim = obs_size(K)
        self.W = W = self.dim
        # (dest row, edge) -> slot; int32, beside the tables' own [rows, E] float64 arrays
        self._slot = np.full((len(tables.dest_edge), tables.E), -1, dtype=np.int32)
        self._size = 0
        self._cap = 0
        # one float64 record per slot, so that a batch gathers its static data at once:
        # [static observation (dim) | own linear map (4 x 4) | destination end xy (2)]
        self._lin = slice(W, W + 16)
        self._dxy = slice(W + 16, W + 18)
        self.S_rec = np.zeros((0, W + 18))
        self.S_mask = np.zeros((0, K), dtype=np.int8)
        self.S_cand0 = np.zeros((0, K), dtype=np.int64)
        self.S_best = np.zeros(0, dtype=np.int64)
        self._grow(256)
        # traffic features: columns of candidate k's mean speed, travel time, occupancy, vehicles
        self._cand_base = N_OWN + np.arange(K) * N_CAND
        self._traffic_feats = np.array([C_MEAN_SPEED, C_TRAVEL_TIME, C_OCCUPANCY, C_VEHICLES])
        self._own_traffic = np.array([OWN_EDGE_MEAN_SPEED, OWN_EDGE_VEHICLES])
        self._len_t = tables.length / norm.time_s  # [E] length / time_s (the travel-time numerator)
        self._live_cols = np.array([N_OWN + k * N_CAND + C_LIVE_VIA_TIME for k in range(K)])
        self._live_extra_cols = self._live_cols + (C_LIVE_EXTRA_TIME - C_LIVE_VIA_TIME)
        self._scale = np.array([1.0 / norm.speed_mps, 1.0, 0.01, 1.0 / norm.vehicles])
        self._own_scale = self._scale[[0, 3]]
        self._inv_dist = 1.0 / norm.distance_m
        self._lock = threading.Lock()

    def _grow(self, cap: int) -> None:
        def g(a: np.ndarray) -> np.ndarray:
            out = np.zeros((cap,) + a.shape[1:], dtype=a.dtype)
            out[: self._size] = a[: self._size]
            return out

        self.S_rec, self.S_mask, self.S_cand0, self.S_best = g(self.S_rec), g(self.S_mask), g(self.S_cand0), g(self.S_best)
        self._cap = cap

    def _add_pairs(self, rows: np.ndarray, edges: np.ndarray) -> None:
        """Static entries for these (destination row, edge) pairs (vectorised)."""
        t, nm, K = self.t, self.n, self.K
        m = len(rows)
        if self._size + m > self._cap:
            self._grow(max(2 * self._cap, self._size + m))
        base = self._size
        sl = slice(base, base + m)
        ar = np.arange(m)
        cand0 = t.succ0[edges]  # [m, K]
        r2 = rows[:, None]
        vt = t.VT[r2, cand0]
        valid = t.real[edges] & np.isfinite(vt)
        any_valid = valid.any(axis=1)
        best_k = np.where(any_valid, np.argmin(np.where(valid, vt, np.inf), axis=1), -1)
        vt = np.where(valid, vt, 0.0)
        best_vt = np.where(any_valid, vt[ar, np.maximum(best_k, 0)], 0.0)
        dest_xy = t.end_xy[t.dest_edge[rows]]  # [m, 2]
        rec = self.S_rec[sl]
        rec[:] = 0.0
        obs = rec[:, : self.W]
        obs[:, OWN_EDGE_LENGTH] = t.length[edges] / nm.length_m
        obs[:, OWN_EDGE_SPEED_LIMIT] = t.speed[edges] / nm.speed_mps
        obs[:, OWN_NUM_VALID] = valid.sum(axis=1) / K
        c = obs[:, N_OWN : N_OWN + K * N_CAND].reshape(m, K, N_CAND)
        c[:, :, C_VALID] = 1.0
        c[:, :, C_LENGTH] = t.length[cand0] / nm.length_m
        c[:, :, C_SPEED_LIMIT] = t.speed[cand0] / nm.speed_mps
        c[:, :, C_VIA_TIME] = vt / nm.time_s
        c[:, :, C_VIA_DIST] = np.where(valid, t.VD[r2, cand0], 0.0) / nm.distance_m
        c[:, :, C_EXTRA_TIME] = (vt - best_vt[:, None]) / nm.time_s
        step = t.end_xy[cand0] - t.end_xy[edges][:, None, :]  # [m, K, 2] candidate displacement
        to_dest = dest_xy - t.end_xy[edges]  # [m, 2] current edge end -> destination
        to_dest = to_dest / np.maximum(np.sqrt((to_dest * to_dest).sum(-1)), 1e-6)[:, None]
        c[:, :, C_HEADING] = (step * to_dest[:, None, :]).sum(-1) / np.maximum(np.sqrt((step * step).sum(-1)), 1e-6)
        turn = t.turn[edges]
        c[:, :, C_UTURN] = turn == TURN_UTURN
        c[:, :, C_LEFT] = turn == TURN_LEFT
        c[:, :, C_RIGHT] = turn == TURN_RIGHT
        c[:, :, C_PATH_SIGNALS] = t.path_signals[r2, cand0] / PATH_COUNT
        c[:, :, C_PATH_LEFTS] = t.path_lefts[r2, cand0] / PATH_COUNT
        c[~valid] = 0.0
        np.clip(obs, OBS_LOW, OBS_HIGH, out=obs)
        self.S_mask[sl] = valid
        # own linear features: [1, lane pos, speed, elapsed] @ lin -> elapsed, rem time, rem dist, speed
        inv_v = 1.0 / np.maximum(t.speed[edges], 0.1)
        lin = rec[:, self._lin].reshape(m, 4, 4)  # a view: writes go to the record
        lin[:, 0, OWN_REM_TIME] = (t.length[edges] * inv_v + t.T[rows, edges]) / nm.time_s
        lin[:, 1, OWN_REM_TIME] = -inv_v / nm.time_s
        lin[:, 0, OWN_REM_DIST] = (t.length[edges] + t.D[rows, edges]) / nm.distance_m
        lin[:, 1, OWN_REM_DIST] = -1.0 / nm.distance_m
        lin[:, 2, OWN_SPEED] = 1.0 / nm.speed_mps
        lin[:, 3, OWN_ELAPSED] = 1.0 / nm.time_s
        rec[:, self._dxy] = dest_xy
        self.S_cand0[sl] = cand0
        self.S_best[sl] = best_k
        self._slot[rows, edges] = np.arange(base, base + m)
        self._size += m

    def entries(self, rows: Sequence[int] | np.ndarray, edges: Sequence[int] | np.ndarray) -> np.ndarray:
        """Slots of these (destination row, edge) pairs, adding the missing ones."""
        rows = np.asarray(rows, dtype=np.int64)
        edges = np.asarray(edges, dtype=np.int64)
        S = self._slot[rows, edges]
        miss = S < 0
        if miss.any():
            E = self.t.E
            keys = np.unique(rows[miss] * E + edges[miss])
            self._add_pairs(keys // E, keys % E)
            S = self._slot[rows, edges]
        return S

    def build(self, rows, edges, dyn, edge_data, live_via=None) -> Batch:
        """Observations for n agents (see :meth:`_build`); one builder may serve several envs."""
        with self._lock:
            return self._build(rows, edges, dyn, edge_data, live_via)

    def _build(
        self,
        rows: Sequence[int],
        edges: Sequence[int],
        dyn: Sequence[tuple[float, float, float, float, float, float]],
        edge_data: Callable[[Sequence[str]], np.ndarray],
        live_via: np.ndarray | None = None,
    ) -> Batch:
        """Observations for n agents.

        ``rows``/``edges``: destination row and current edge of each agent; ``dyn``:
        ``(1.0, lane position, speed, seconds since departure, x, y)`` of each agent;
        ``edge_data(names) -> [m, 3]`` (mean speed, vehicle number, occupancy %);
        ``live_via[row, e]``: seconds to destination ``row`` via edge ``e`` on live edge
        times (None: the free-flow ``VT``).
        """
        rows_a = np.asarray(rows, dtype=np.int64)
        edges_a = np.asarray(edges, dtype=np.int64)
        S = self.entries(rows_a, edges_a)
        n = len(S)
        rec = self.S_rec[S]  # [n, W + 18] copy of the static records
        obs = rec[:, : self.W]
        d = np.array(dyn, dtype=np.float64)
        lin = np.matmul(d[:, None, :4], rec[:, self._lin].reshape(n, 4, 4))[:, 0, :]
        obs[:, :4] = lin
        dvec = rec[:, self._dxy] - d[:, 4:6]
        dist = np.hypot(dvec[:, 0], dvec[:, 1])
        obs[:, OWN_DIR_X : OWN_DIR_Y + 1] = dvec / (dist[:, None] + 1e-9)
        obs[:, OWN_EUCLID] = dist * self._inv_dist
        mask, cand = self.S_mask[S], self.S_cand0[S]
        # traffic on the current edges and the valid candidates: one batched read
        jj, kk = np.nonzero(mask)
        cv = cand[jj, kk]
        ids = self.t.edge_ids
        ev = edge_data([ids[e] for e in edges] + [ids[c] for c in cv.tolist()])  # [n + m, 3]
        obs[:, self._own_traffic] = ev[:n, :2] * self._own_scale
        c = ev[n:]
        vals = c[:, (0, 0, 2, 1)]  # mean speed, (travel time), occupancy, vehicles
        vals[:, 1] = np.minimum(self._len_t[cv] / np.maximum(c[:, 0], 0.1), OBS_HIGH)
        vals *= self._scale
        obs[jj[:, None], self._cand_base[kk][:, None] + self._traffic_feats] = vals
        # live seconds to the destination via each valid candidate, and minus the best one
        lv = np.where(mask, (self.t.VT if live_via is None else live_via)[rows_a[:, None], cand], np.inf)
        best = lv.min(axis=1, initial=np.inf)
        ok = np.isfinite(lv)  # invalid slots are inf
        inv = 1.0 / self.n.time_s
        obs[:, self._live_cols] = np.where(ok, lv, 0.0) * inv
        obs[:, self._live_extra_cols] = np.where(ok, lv - np.where(np.isfinite(best), best, 0.0)[:, None], 0.0) * inv
        out = obs.astype(np.float32)
        np.minimum(out, OBS_HIGH, out=out)  # only extreme inputs (e.g. hours elapsed) reach the bounds
        np.maximum(out, OBS_LOW, out=out)
        return Batch(
            out,
            mask,
            self.t.succ[edges_a].tolist(),
            self.S_best[S].tolist(),
            (lin[:, OWN_REM_TIME] * self.n.time_s).tolist(),
        )
