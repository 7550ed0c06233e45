"""Starting and ending SUMO for :class:`~reled_sumo.sim.session.SumoSession`: the libsumo
singleton guard, the TraCI child process (port retries, start timeout) and cleanup."""
from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import tempfile
import time as _time
import weakref
from dataclasses import replace
from pathlib import Path

import traci
from traci import constants as tc
from traci.exceptions import FatalTraCIError, TraCIException

from reled_sumo.errors import ConfigError, SimulationDiedError, SimulationError
from reled_sumo.sim.config import SessionConfig
from reled_sumo.sim.state import SessionState

log = logging.getLogger("reled_sumo.sim.session")

_SIM_VARS = (
    tc.VAR_TIME,
    tc.VAR_DEPARTED_VEHICLES_IDS,
    tc.VAR_ARRIVED_VEHICLES_IDS,
    tc.VAR_TELEPORT_STARTING_VEHICLES_IDS,
)

START_TIMEOUT_S = 60.0


class LibsumoBusyError(SimulationError):
    """A second libsumo session was opened while another one is still open."""


_libsumo_owner: "weakref.ref[BackendLifecycle] | None" = None


def _libsumo_module():
    try:
        import libsumo  # lazy: sumo
    except ImportError as exc:  # pragma: no cover - libsumo is a hard dependency
        raise ConfigError("backend 'libsumo' needs the libsumo package (pip install libsumo)") from exc
    return libsumo


def killed_by(returncode: int) -> str:
    """``"killed by signal SIGKILL"`` for a negative return code (the process got a signal)."""
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f"killed by signal {name}"


def libsumo_in_use() -> bool:
    """Whether this process has a libsumo simulation loaded (a process forked now would inherit it
    and could not start its own)."""
    import sys  # lazy: only to look up libsumo in sys.modules

    libsumo = sys.modules.get("libsumo")
    try:
        return libsumo is not None and bool(libsumo.simulation.isLoaded())
    except Exception:  # noqa: BLE001 - a broken libsumo cannot be in use
        return False


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


class BackendLifecycle(SessionState):
    """Mixin: ``start()`` / ``close()`` of the session on libsumo or TraCI."""

    def start(self) -> "BackendLifecycle":
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
            rc = self._proc.poll() if self._proc is not None else None
            self._cleanup()
            if rc is not None and rc < 0:
                raise SimulationDiedError(f"SUMO ({self.backend}) was {killed_by(rc)} while starting with "
                                          f"{self.sumocfg}") from exc
            raise SimulationError(
                f"SUMO ({self.backend}) failed to start with {self.sumocfg}: {exc}" + (f"\n{tail}" if tail else "")
            ) from exc
        self._open = True
        log.debug("started SUMO session %s (%s): %s", self.label, self.backend, " ".join(cmd))
        return self

    def can_reload(self, config: SessionConfig) -> bool:
        """Whether :meth:`reload` can run ``config`` in this simulation: it is open, without the GUI,
        on the same backend and binary (and TraCI port, if one was fixed)."""
        old = self.config
        return (self._open and not old.gui and not config.gui and config.backend == old.backend
                and config.binary() == old.binary() and config.port == old.port)

    def reload(self, config: SessionConfig) -> "BackendLifecycle":
        """Load the same sumocfg again, with ``config``'s options, in this running SUMO (TraCI /
        libsumo ``load``) instead of ``close()`` + ``start()``: no new SUMO process with TraCI, no new
        temporary folder. The simulation starts over exactly as a fresh start with ``config`` would
        (tests/sim/test_session.py compares the two). The connection label is kept. Raises
        :class:`ConfigError` where :meth:`can_reload` is False."""
        if not self.can_reload(config):
            raise ConfigError(f"session {self.label} cannot reload with {config} (closed, GUI, or another "
                              "backend, binary or port); close it and start a new one")
        config = replace(config, label=self.config.label)
        cmd = config.command(self.sumocfg)
        if self.backend == "libsumo" and self._tmpdir is not None:
            cmd += ["--error-log", str(self._tmpdir / "error.log")]
        try:
            self._api.load(cmd[1:])
            if self.events and not self._direct:  # load drops every subscription
                self._api.simulation.subscribe(_SIM_VARS)
            self.time = float(self._api.simulation.getTime())
        except Exception as exc:  # noqa: BLE001 - a failed load ends the session
            raise self._fail(exc, "load", always_fatal=True) from exc
        self.config = config
        self._edge_subscribed, self._edge_cache_time, self._edge_cache = (), float("nan"), {}
        self._speed_subscribed, self._empty_speeds = (), None  # a reload may bring other speed limits
        log.debug("reloaded SUMO session %s (%s): %s", self.label, self.backend, " ".join(cmd))
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
        if (owner is not None and owner._open) or libsumo.simulation.isLoaded():
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
                    if proc.returncode < 0:  # killed from outside, not a failure of the scenario
                        raise SimulationDiedError(f"SUMO (traci) was {killed_by(proc.returncode)} while starting "
                                                  f"with {self.sumocfg}")
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
