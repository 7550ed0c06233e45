"""The only package that talks to SUMO (libsumo / TraCI). See :mod:`reled_sumo.sim.session`."""
from reled_sumo.sim.backend import libsumo_in_use
from reled_sumo.sim.config import BACKENDS, SessionConfig, find_sumo_binary
from reled_sumo.sim.session import (
    EDGE_VARS,
    VEHICLE_VARS,
    LibsumoBusyError,
    StepEvents,
    SumoSession,
    restart_session,
)

__all__ = [
    "BACKENDS",
    "EDGE_VARS",
    "VEHICLE_VARS",
    "LibsumoBusyError",
    "SessionConfig",
    "StepEvents",
    "SumoSession",
    "find_sumo_binary",
    "libsumo_in_use",
    "restart_session",
]
