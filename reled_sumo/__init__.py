"""reled-sumo: multi-agent RL routing of SUMO vehicles on real cities."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package root imports nothing heavy
    from reled_sumo.scenario.manifest import ScenarioLike

__version__ = "0.1.0"


def make_env(scenario: ScenarioLike, **options: Any):
    """Create the routing env (lazy import of :func:`reled_sumo.env.make_env`)."""
    from reled_sumo.env import make_env as _make_env  # lazy: sumo

    return _make_env(scenario, **options)


__all__ = ["make_env", "__version__"]
