"""Batched vehicle and edge reads/writes of :class:`~reled_sumo.sim.session.SumoSession`
(direct getters or subscriptions, see the session's module doc)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from traci import constants as tc
from traci.exceptions import TraCIException

from reled_sumo.errors import SimulationError
from reled_sumo.sim.speeds import EmptySpeeds, all_speeds, mean_speeds
from reled_sumo.sim.state import SessionState

#: Edge variables returned by :meth:`VehicleEdgeIO.edge_data`, in this order.
EDGE_VARS: tuple[int, ...] = (tc.LAST_STEP_MEAN_SPEED, tc.LAST_STEP_VEHICLE_NUMBER, tc.LAST_STEP_OCCUPANCY)


class VehicleEdgeIO(SessionState):
    """Mixin: vehicle subscriptions and data, routes, and edge data of a running session."""

    def subscribe_vehicles(self, vehicle_ids: Iterable[str]) -> None:
        """Subscribe :attr:`vehicle_vars` of these (just departed) vehicles.

        A no-op in ``vehicle_mode="direct"``, where :meth:`vehicle_data` reads on demand.
        """
        if self._direct:
            return
        self._require_open()
        sub = self._api.vehicle.subscribe
        varids = self.vehicle_vars
        try:
            for v in vehicle_ids:
                sub(v, varids)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "vehicle subscription") from exc

    def vehicle_data(
        self, vehicle_ids: Sequence[str], varids: Sequence[int] | None = None
    ) -> Mapping[str, Mapping[int, Any]]:
        """Variables ``{vehicle: {var: value}}`` of (at least) these vehicles.

        ``varids`` (default :attr:`vehicle_vars`) is what the caller needs; in
        subscription mode all subscribed variables of all subscribed vehicles are
        returned. Vehicles that left the network are absent from the result.
        """
        if not self._open:
            self._require_open()
        try:
            if not self._direct:
                return self._api.vehicle.getAllSubscriptionResults()
            keys = tuple(varids or self.vehicle_vars)
            getters = [self._getters[k] for k in keys]
            out: dict[str, dict[int, Any]] = {}
            for v in vehicle_ids:
                try:
                    out[v] = dict(zip(keys, [g(v) for g in getters]))
                except TraCIException:
                    continue  # not in the network (any more)
                except Exception as exc:  # noqa: BLE001 - libsumo raises its own TraCIException class
                    if type(exc).__name__ != "TraCIException" or not self._alive():
                        raise
            return out
        except SimulationError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "reading vehicle data") from exc

    def vehicle_columns(self, vehicle_ids: Sequence[str], varids: Sequence[int]) -> list[list[Any]]:
        """``varids`` of these vehicles as one list per variable, in ``vehicle_ids`` order;
        ``None`` in every column for a vehicle that is not in the network (any more).

        Same values as :meth:`vehicle_data`, without a dict per vehicle: in direct mode one
        list comprehension per variable (the per-vehicle path only when a vehicle is gone)."""
        if not self._open:
            self._require_open()
        if not self._direct or not vehicle_ids:
            data = self.vehicle_data(vehicle_ids, varids)
            rows = [data.get(v) for v in vehicle_ids]
            return [[r[k] if r else None for r in rows] for k in varids]
        try:
            return [[g(v) for v in vehicle_ids] for g in [self._getters[k] for k in varids]]
        except Exception:  # noqa: BLE001 - a vehicle left (or SUMO died): the per-vehicle path sorts it out
            data = self.vehicle_data(vehicle_ids, varids)
            rows = [data.get(v) for v in vehicle_ids]
            return [[r[k] if r else None for r in rows] for k in varids]

    def set_route(self, vehicle_id: str, edges: Sequence[str]) -> None:
        """Replace the vehicle's route; ``edges[0]`` must be the edge it is on."""
        if not self._open:
            self._require_open()
        try:
            self._api.vehicle.setRoute(vehicle_id, edges)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"setRoute({vehicle_id}, {list(edges)[:3]}...)") from exc

    def vehicle_route(self, vehicle_id: str) -> tuple[str, ...]:
        """The vehicle's current route (one call; for tests and diagnostics)."""
        self._require_open()
        try:
            return tuple(self._api.vehicle.getRoute(vehicle_id))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"getRoute({vehicle_id})") from exc

    def vehicle_ids(self) -> tuple[str, ...]:
        self._require_open()
        try:
            return tuple(self._api.vehicle.getIDList())
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "vehicle.getIDList") from exc

    # ---------------------------------------------------------------- edges
    def subscribe_edges(self, edge_ids: Sequence[str]) -> None:
        """Subscribe :data:`EDGE_VARS` of these edges (``edge_mode="subscription"``)."""
        self._require_open()
        try:
            for e in edge_ids:
                self._api.edge.subscribe(e, EDGE_VARS)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "edge subscription") from exc
        self._edge_subscribed = tuple(edge_ids)
        self._edge_cache_time = float("nan")

    def edge_travel_times(self, edge_ids: Sequence[str]) -> np.ndarray:
        """SUMO's current travel time (s) of these edges: length / last-step mean speed
        (free flow when empty). One call per edge: meant for occasional full-network reads."""
        if not self._open:
            self._require_open()
        try:
            g = self._api.edge.getTraveltime
            return np.array([g(e) for e in edge_ids], dtype=np.float64)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "reading edge travel times") from exc

    def edge_mean_speeds(self, edge_ids: Sequence[str]) -> np.ndarray:
        """``[n]`` last-step mean speed (m/s) of these edges, the speed limit on empty ones: the
        reading behind the windowed live travel times, taken every simulated second. libsumo: one
        in-process call per edge that holds a vehicle (``sim/speeds.py``: an empty edge reads its
        learnt constant; every edge with ``SessionConfig.sparse_speeds`` off); TraCI: the edges'
        mean speed is subscribed once, so a reading is one message, not one round trip per edge;
        ``edge_mode="subscription"``: the cached subscription results."""
        if not self._open:
            self._require_open()
        if self.edge_mode == "subscription" and self._edge_subscribed:
            return self.edge_data(edge_ids)[:, 0].copy()
        edge, var = self._api.edge, tc.LAST_STEP_MEAN_SPEED
        try:
            if self.backend == "libsumo":
                if not self.config.sparse_speeds:
                    return all_speeds(self._api, edge_ids)
                if self._empty_speeds is None or self._empty_speeds.ids != tuple(edge_ids):
                    self._empty_speeds = EmptySpeeds.of(self._api, edge_ids)
                return mean_speeds(self._api, self._empty_speeds)
            ids = tuple(edge_ids)
            if self._speed_subscribed != ids:
                for e in ids:
                    edge.subscribe(e, (var,))
                self._speed_subscribed = ids
            res = edge.getAllSubscriptionResults()
            return np.array([res[e][var] for e in ids], dtype=np.float64)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "reading edge mean speeds") from exc

    def edge_loads(self, edge_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``([n] mean speed m/s, [n] vehicle number)`` in the last step, the mean speed read
        only for edges with vehicles (NaN on empty ones): about half the calls of
        :meth:`edge_data` on a network where most edges are empty at any moment."""
        if not self._open:
            self._require_open()
        if self.edge_mode == "subscription" and self._edge_subscribed:
            data = self.edge_data(edge_ids)
            count = data[:, 1].copy()
            return np.where(count > 0, data[:, 0], np.nan), count
        edge = self._api.edge
        try:
            gvn, gms = edge.getLastStepVehicleNumber, edge.getLastStepMeanSpeed
            count = np.array([gvn(e) for e in edge_ids], dtype=np.float64)
            busy = np.flatnonzero(count > 0)
            speed = np.full(len(edge_ids), np.nan)
            speed[busy] = [gms(edge_ids[j]) for j in busy.tolist()]
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "reading edge loads") from exc
        return speed, count

    def edge_data(self, edge_ids: Sequence[str]) -> np.ndarray:
        """``[len(edge_ids), 3]`` float64: mean speed (m/s; the speed limit when empty),
        vehicle number and occupancy (%) in the last step, in :data:`EDGE_VARS` order."""
        if not self._open:
            self._require_open()
        edge = self._api.edge
        try:
            if self.edge_mode == "subscription" and self._edge_subscribed:
                if self._edge_cache_time != self.time:
                    self._edge_cache = edge.getAllSubscriptionResults()
                    self._edge_cache_time = self.time
                res = self._edge_cache
                rows = [tuple(res[e][v] for v in EDGE_VARS) for e in edge_ids]
            else:
                gms, gvn, goc = edge.getLastStepMeanSpeed, edge.getLastStepVehicleNumber, edge.getLastStepOccupancy
                rows = [(gms(e), gvn(e), goc(e)) for e in edge_ids]
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "reading edge data") from exc
        return np.array(rows, dtype=np.float64).reshape(-1, 3)
