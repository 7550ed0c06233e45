"""The attributes :class:`~reled_sumo.sim.session.SumoSession` sets in ``__init__``, declared
once for its two mixins (:class:`~reled_sumo.sim.backend.BackendLifecycle`, start and close;
:class:`~reled_sumo.sim.io.VehicleEdgeIO`, reads and writes), which read and set them.

Declarations only: nothing here exists at run time but the class itself.
"""
from __future__ import annotations

import subprocess
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from reled_sumo.errors import SimulationError
from reled_sumo.sim.config import SessionConfig
from reled_sumo.sim.speeds import EmptySpeeds


class SessionState:
    """A running (or not yet started / closed) SUMO session's state. See the module doc."""

    sumocfg: Path
    config: SessionConfig
    backend: str  # "libsumo" or "traci" (the effective one)
    vehicle_mode: str  # "direct" or "subscription"
    edge_mode: str
    vehicle_vars: tuple[int, ...]
    events: bool  # False: raw stepping only
    time: float  # SUMO time after the last step (NaN before start)
    step_seconds: float  # wall time spent in simulationStep since the session was made
    _direct: bool  # vehicle_mode == "direct"
    _api: Any  # the TraCI connection or the libsumo module
    _proc: subprocess.Popen | None  # SUMO's process (TraCI)
    _tmpdir: Path | None
    _open: bool
    _dead: bool
    _getters: dict[int, Callable[[str], Any]]  # vehicle variable -> direct getter
    _event_getters: tuple[Callable[[], Any], ...]
    _edge_subscribed: tuple[str, ...]
    _edge_cache_time: float
    _edge_cache: dict[str, dict[int, Any]]
    _speed_subscribed: tuple[str, ...]  # edges whose mean speed is subscribed (TraCI, edge_mean_speeds)
    _empty_speeds: EmptySpeeds | None  # libsumo edge_mean_speeds: each empty edge's reading (sim/speeds.py)
    _finalizer: weakref.finalize | None

    if TYPE_CHECKING:  # defined by SumoSession

        @property
        def label(self) -> str: ...

        def _require_open(self) -> None: ...

        def _alive(self) -> bool: ...

        def _fail(self, exc: BaseException, what: str, always_fatal: bool = False) -> SimulationError: ...
