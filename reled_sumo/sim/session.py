"""One running SUMO simulation: :class:`SumoSession`.

This module (with :mod:`reled_sumo.sim.config`) is the only code in reled-sumo that
talks to SUMO. Everything else goes through the session's batched accessors.

Backends
--------
* ``libsumo`` (default): SUMO runs inside this Python process. It is the fastest
  backend, but **libsumo is a process-wide singleton**: only one libsumo session can
  be open at a time; opening a second one raises :class:`LibsumoBusyError`. Close the
  first one (or use ``backend="traci"``) to run several simulations per process.
* ``traci``: SUMO runs as a child process driven over a socket. Each session has its
  own uuid-based connection label, so any number of them can be open at once.
  ``gui=True`` always uses TraCI (with ``sumo-gui``).

Data access
-----------
Two data modes, chosen per session (``vehicle_mode``; default: the faster one for
the backend, measured on the Kotka sample with 100 agents):

* ``"subscription"`` (TraCI default): the simulation's departed / arrived /
  teleporting lists and the :data:`VEHICLE_VARS` of every controlled vehicle
  (subscribed on departure by :meth:`SumoSession.subscribe_vehicles`) arrive with each
  step's reply; :meth:`SumoSession.vehicle_data` returns ``getAllSubscriptionResults()``.
  With TraCI every call is a socket round trip (~30 us), so this is the only sane way.
* ``"direct"`` (libsumo default): libsumo calls are plain C++ calls (~0.3 us), while
  libsumo recomputes and converts *every* subscription at *every* step (+36 us/step,
  +15 % of the step time for 100 agents; a simulation subscription alone +4 %). So
  :meth:`SumoSession.step` reads the three id lists with one getter each, and
  :meth:`SumoSession.vehicle_data` fetches only the vehicles and variables asked for.

Either way, the values are SUMO's own and identical between modes and backends.

:meth:`SumoSession.edge_data` returns mean speed, vehicle number and occupancy of the
given edges as numpy arrays. ``edge_mode="direct"`` (default) reads just those
edges; ``edge_mode="subscription"`` subscribes all edges once and reads
``getAllSubscriptionResults`` at most once per step. Subscribing all 489 edges of the
Kotka net makes each libsumo step ~2x and each TraCI step ~10x slower (5.6 ms instead of
0.5 ms), so ``direct`` is the default: the env needs only the few candidate edges of the
agents deciding now.

Errors
------
Any SUMO crash, ``FatalTraCIError``, closed connection or failed step raises
:class:`~reled_sumo.errors.SimulationDiedError`; the session is then closed and a new
one can be started (also with libsumo). Other TraCI errors (unknown vehicle, invalid
route) raise :class:`~reled_sumo.errors.SimulationError`.
"""
from __future__ import annotations

import logging
import subprocess
import time as _time
import weakref
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from traci import constants as tc
from traci.exceptions import FatalTraCIError

from reled_sumo.errors import ConfigError, SimulationDiedError, SimulationError
from reled_sumo.sim.backend import BackendLifecycle, LibsumoBusyError, _tail, killed_by
from reled_sumo.sim.speeds import EmptySpeeds
from reled_sumo.sim.config import SessionConfig
from reled_sumo.sim.io import EDGE_VARS, VehicleEdgeIO

__all__ = ["EDGE_VARS", "VEHICLE_VARS", "LibsumoBusyError", "StepEvents", "SumoSession", "restart_session"]

log = logging.getLogger(__name__)

#: Vehicle variables subscribed for controlled vehicles (see :meth:`SumoSession.subscribe_vehicles`).
VEHICLE_VARS: tuple[int, ...] = (
    tc.VAR_ROAD_ID,
    tc.VAR_LANEPOSITION,
    tc.VAR_SPEED,
    tc.VAR_ROUTE_INDEX,
    tc.VAR_POSITION,
    tc.VAR_DISTANCE,
    tc.VAR_ACCUMULATED_WAITING_TIME,
    tc.VAR_ALLOWED_SPEED,
)

def restart_session(session: "SumoSession | None", sumocfg: str | Path, config: SessionConfig) -> "SumoSession":
    """A running session of ``sumocfg`` started with ``config``: ``session`` reloaded in place when
    it runs the same sumocfg and :meth:`SumoSession.can_reload` allows it, else ``session`` closed
    (if any) and a new one started."""
    if session is not None and session.sumocfg == Path(sumocfg) and session.can_reload(config):
        return session.reload(config)  # type: ignore[return-value]
    if session is not None:
        session.close()
    return SumoSession(sumocfg, config).start()  # type: ignore[return-value]


class StepEvents(NamedTuple):
    """What happened in one simulation step."""

    time: float
    departed: tuple[str, ...]
    arrived: tuple[str, ...]
    teleported: tuple[str, ...]  # vehicles that *started* teleporting in this step


class SumoSession(VehicleEdgeIO, BackendLifecycle):
    """A running SUMO simulation. Use as a context manager::

        with SumoSession(scenario.sumocfg, SessionConfig(seed=1)) as sim:
            while sim.time < 600:
                ev = sim.step()

    ``close()`` always ends the simulation (and the SUMO process with TraCI); do not
    rely on garbage collection.
    """

    def __init__(
        self,
        sumocfg: str | Path,
        config: SessionConfig | None = None,
        *,
        edge_mode: str = "direct",
        vehicle_mode: str | None = None,
        vehicle_vars: Sequence[int] = VEHICLE_VARS,
        events: bool = True,
    ) -> None:
        self.sumocfg = Path(sumocfg)
        self.config = config or SessionConfig()
        if edge_mode not in ("direct", "subscription"):
            raise ConfigError(f"edge_mode must be 'direct' or 'subscription', got {edge_mode!r}")
        self.edge_mode = edge_mode
        self.backend = self.config.effective_backend
        if vehicle_mode is None:
            vehicle_mode = "direct" if self.backend == "libsumo" else "subscription"
        if vehicle_mode not in ("direct", "subscription"):
            raise ConfigError(f"vehicle_mode must be 'direct' or 'subscription', got {vehicle_mode!r}")
        self.vehicle_mode = vehicle_mode
        self._direct = vehicle_mode == "direct"
        self.vehicle_vars = tuple(vehicle_vars)
        self.events = events  # False: step() is unavailable (raw stepping only, see run_steps)
        self._getters: dict[int, Any] = {}
        self.time = float("nan")
        self._api: Any = None
        self._proc: subprocess.Popen | None = None
        self._tmpdir: Path | None = None
        self._open = False
        self._dead = False
        self._edge_subscribed: tuple[str, ...] = ()
        self._speed_subscribed: tuple[str, ...] = ()
        self._empty_speeds: EmptySpeeds | None = None
        self._edge_cache_time = float("nan")
        self._edge_cache: dict[str, dict[int, Any]] = {}
        self._finalizer: weakref.finalize | None = None
        self.step_seconds = 0.0  # wall time spent in SUMO's simulationStep (diagnostics, bench env)

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> "SumoSession":
        if not self._open:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def pid(self) -> int | None:
        """PID of the SUMO process (TraCI only; None with libsumo, which runs in-process)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def api(self) -> Any:
        """The raw TraCI connection / libsumo module. For tests and diagnostics only."""
        self._require_open()
        return self._api

    # --------------------------------------------------------------- errors
    def _require_open(self) -> None:
        if not self._open:
            if self._dead:
                raise SimulationDiedError(f"SUMO session {self.label} has died; start a new one")
            raise SimulationError(f"SUMO session {self.label} is not running")

    def _alive(self) -> bool:
        if self.backend == "libsumo":
            try:
                return bool(self._api.simulation.isLoaded())
            except Exception:  # noqa: BLE001
                return False
        return self._proc is not None and self._proc.poll() is None

    def _fail(self, exc: BaseException, what: str, always_fatal: bool = False) -> SimulationError:
        """Turn a backend exception into SimulationDiedError (dead sim) or SimulationError."""
        if not self._open:
            return SimulationDiedError(f"SUMO session {self.label} is not running ({what})") if self._dead else \
                SimulationError(f"SUMO session {self.label} is not running ({what})")
        fatal = always_fatal or isinstance(exc, (FatalTraCIError, OSError, EOFError))
        if not fatal and self.backend == "libsumo":
            fatal = type(exc).__name__ == "FatalTraCIError"
        if not fatal:
            fatal = not self._alive()
        if not fatal:
            return SimulationError(f"SUMO rejected {what}: {exc}")
        rc = self._proc.poll() if self._proc is not None else None
        tail = _tail(self._tmpdir / "error.log") if self._tmpdir else ""
        if not tail and self._tmpdir:
            tail = _tail(self._tmpdir / "stderr.log")
        self._dead = True
        self._open = False
        self._cleanup()
        msg = f"SUMO ({self.backend}, session {self.label}) died during {what} at t={self.time:g} s: {exc}"
        if rc is not None:
            msg += f" ({killed_by(rc)})" if rc < 0 else f" (exit code {rc})"
        if tail:
            msg += f"\nSUMO's last messages:\n{tail}"
        return SimulationDiedError(msg)

    # ----------------------------------------------------------------- step
    def step(self) -> StepEvents:
        """Advance one step; return time and departed / arrived / teleporting vehicle ids."""
        if not self._open:
            self._require_open()
        if not self.events:
            raise SimulationError("this session was started with events=False; use run_steps()")
        api = self._api
        try:
            t0 = _time.perf_counter()
            api.simulationStep()
            self.step_seconds += _time.perf_counter() - t0
            if self._direct:
                gt, gd, ga, gtel = self._event_getters
                t = gt()
                ev = StepEvents(t, gd(), ga(), gtel())
            else:
                r = api.simulation.getSubscriptionResults()
                t = r[tc.VAR_TIME]
                ev = StepEvents(
                    t, r[tc.VAR_DEPARTED_VEHICLES_IDS], r[tc.VAR_ARRIVED_VEHICLES_IDS],
                    r[tc.VAR_TELEPORT_STARTING_VEHICLES_IDS],
                )
        except Exception as exc:  # noqa: BLE001 - any failure of a step means the run is over
            raise self._fail(exc, "simulationStep", always_fatal=True) from exc
        self.time = t
        return ev

    def run_steps(self, n: int) -> float:
        """Advance ``n`` steps without reading anything (benchmarks); returns the new time."""
        if not self._open:
            self._require_open()
        api = self._api
        try:
            step = api.simulationStep
            t0 = _time.perf_counter()
            for _ in range(int(n)):
                step()
            self.step_seconds += _time.perf_counter() - t0
            self.time = float(api.simulation.getTime())
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "simulationStep", always_fatal=True) from exc
        return self.time

    def min_expected_vehicles(self) -> int:
        """Vehicles in the network plus those still waiting to depart."""
        self._require_open()
        try:
            return int(self._api.simulation.getMinExpectedNumber())
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "getMinExpectedNumber") from exc

    # ------------------------------------------------------------- vehicles
