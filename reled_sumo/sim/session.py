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
import shutil
import subprocess
import tempfile
import time as _time
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import traci
from traci import constants as tc
from traci.exceptions import FatalTraCIError, TraCIException

from reled_sumo.errors import ConfigError, SimulationDiedError, SimulationError
from reled_sumo.sim.config import SessionConfig

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
#: Edge variables returned by :meth:`SumoSession.edge_data`, in this order.
EDGE_VARS: tuple[int, ...] = (tc.LAST_STEP_MEAN_SPEED, tc.LAST_STEP_VEHICLE_NUMBER, tc.LAST_STEP_OCCUPANCY)
_SIM_VARS = (
    tc.VAR_TIME,
    tc.VAR_DEPARTED_VEHICLES_IDS,
    tc.VAR_ARRIVED_VEHICLES_IDS,
    tc.VAR_TELEPORT_STARTING_VEHICLES_IDS,
)

START_TIMEOUT_S = 60.0


class LibsumoBusyError(SimulationError):
    """A second libsumo session was opened while another one is still open."""


class StepEvents(NamedTuple):
    """What happened in one simulation step."""

    time: float
    departed: tuple[str, ...]
    arrived: tuple[str, ...]
    teleported: tuple[str, ...]  # vehicles that *started* teleporting in this step


_libsumo_owner: "weakref.ref[SumoSession] | None" = None


def _libsumo_module():
    try:
        import libsumo
    except ImportError as exc:  # pragma: no cover - libsumo is a hard dependency
        raise ConfigError("backend 'libsumo' needs the libsumo package (pip install libsumo)") from exc
    return libsumo


def _tail(path: Path | None, n: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.kill()
        proc.wait(timeout=10)
    except Exception:  # noqa: BLE001 - best effort at cleanup
        pass


class SumoSession:
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
        self._edge_cache_time = float("nan")
        self._edge_cache: dict[str, dict[int, Any]] = {}
        self._finalizer: weakref.finalize | None = None

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

    def start(self) -> "SumoSession":
        if self._open:
            raise SimulationError(f"session {self.label} is already running")
        if self._dead:
            raise SimulationError(f"session {self.label} died; start a new SumoSession")
        if not self.sumocfg.is_file():
            raise ConfigError(f"SUMO configuration {self.sumocfg} does not exist")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="reled-sumo-"))
        # safety net only (close() removes it): sessions never closed leave no temp folder at exit
        weakref.finalize(self, shutil.rmtree, str(self._tmpdir), True)
        cmd = self.config.command(self.sumocfg)
        if self.backend == "libsumo":  # in-process: SUMO's messages go to a file we can quote
            cmd += ["--error-log", str(self._tmpdir / "error.log")]
        try:
            if self.backend == "libsumo":
                self._start_libsumo(cmd)
            else:
                self._start_traci(cmd)
            if self.events and not self._direct:
                self._api.simulation.subscribe(_SIM_VARS)
            v = self._api.vehicle
            self._getters = {
                tc.VAR_ROAD_ID: v.getRoadID,
                tc.VAR_LANEPOSITION: v.getLanePosition,
                tc.VAR_SPEED: v.getSpeed,
                tc.VAR_ROUTE_INDEX: v.getRouteIndex,
                tc.VAR_POSITION: v.getPosition,
                tc.VAR_DISTANCE: v.getDistance,
                tc.VAR_ACCUMULATED_WAITING_TIME: v.getAccumulatedWaitingTime,
                tc.VAR_ALLOWED_SPEED: v.getAllowedSpeed,
            }
            sim = self._api.simulation
            self._event_getters = (
                sim.getTime, sim.getDepartedIDList, sim.getArrivedIDList, sim.getStartingTeleportIDList,
            )
            self.time = float(self._api.simulation.getTime())
        except (SimulationError, ConfigError):
            self._cleanup()
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported the same way
            tail = _tail(self._tmpdir / "error.log") or _tail(self._tmpdir / "stderr.log")
            self._cleanup()
            raise SimulationError(
                f"SUMO ({self.backend}) failed to start with {self.sumocfg}: {exc}" + (f"\n{tail}" if tail else "")
            ) from exc
        self._open = True
        log.debug("started SUMO session %s (%s): %s", self.label, self.backend, " ".join(cmd))
        return self

    def _start_libsumo(self, cmd: list[str]) -> None:
        global _libsumo_owner
        libsumo = _libsumo_module()
        owner = _libsumo_owner() if _libsumo_owner is not None else None
        if owner is None and _libsumo_owner is not None and libsumo.simulation.isLoaded():
            # the session that started it was garbage-collected without close(): reclaim
            log.warning("closing a libsumo simulation left open by a session that was never closed")
            try:
                libsumo.close()
            except Exception:  # noqa: BLE001
                pass
            _libsumo_owner = None
        if (owner is not None and owner.is_open) or libsumo.simulation.isLoaded():
            other = owner.label if owner is not None else "(opened outside reled-sumo)"
            raise LibsumoBusyError(
                f"libsumo runs one simulation per process and session {other} is still open; "
                "close it first or use backend='traci' for concurrent simulations"
            )
        libsumo.start(cmd)
        _libsumo_owner = weakref.ref(self)
        self._api = libsumo

    def _start_traci(self, cmd: list[str]) -> None:
        assert self._tmpdir is not None
        tries = 1 if self.config.port is not None else 5
        last_exc: Exception | None = None
        for _ in range(tries):
            port = self.config.port or traci.getFreeSocketPort()
            with open(self._tmpdir / "stderr.log", "ab") as errf:
                proc = subprocess.Popen(
                    cmd + ["--remote-port", str(port)], stdout=subprocess.DEVNULL, stderr=errf
                )
            self._proc = proc
            self._finalizer = weakref.finalize(self, _kill, proc)
            deadline = _time.monotonic() + START_TIMEOUT_S
            wait = 0.005
            while True:
                if proc.poll() is not None:
                    last_exc = SimulationError(
                        f"SUMO exited with code {proc.returncode} while starting"
                    )
                    break
                try:
                    self._api = traci.connect(port, numRetries=0, proc=proc, label=self.label)
                    return
                except (FatalTraCIError, TraCIException, OSError) as exc:
                    last_exc = exc
                if _time.monotonic() > deadline:
                    _kill(proc)
                    raise SimulationError(f"could not connect to SUMO on port {port} within {START_TIMEOUT_S:.0f} s")
                _time.sleep(wait)
                wait = min(wait * 2, 0.2)
            # the process died: a port clash is retried with another port, anything else reported
            tail = _tail(self._tmpdir / "error.log") or _tail(self._tmpdir / "stderr.log")
            if "port" not in tail.lower() and "socket" not in tail.lower():
                raise SimulationError(f"SUMO failed to start with {self.sumocfg}" + (f":\n{tail}" if tail else ""))
        raise SimulationError(f"could not start SUMO: {last_exc}")

    def close(self) -> None:
        """End the simulation (idempotent). With TraCI the SUMO process is always ended."""
        if not self._open and self._api is None and self._proc is None:
            self._rm_tmp()
            return
        self._open = False
        self._cleanup()

    def _cleanup(self) -> None:
        global _libsumo_owner
        api, self._api = self._api, None
        if self.backend == "libsumo":
            owner = _libsumo_owner() if _libsumo_owner is not None else None
            if owner is self or owner is None:
                try:
                    if api is not None:
                        api.close()
                except Exception:  # noqa: BLE001 - already closed / died
                    pass
                _libsumo_owner = None
        else:
            if api is not None:
                try:
                    api.close(wait=False)
                except Exception:  # noqa: BLE001 - the socket may already be gone
                    pass
                traci.connection._connections.pop(self.label, None)  # noqa: SLF001 - make the label reusable
            proc, self._proc = self._proc, None
            if proc is not None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill(proc)
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        self._rm_tmp()

    def _rm_tmp(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

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
            msg += f" (exit code {rc})"
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
            api.simulationStep()
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
            for _ in range(int(n)):
                step()
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
