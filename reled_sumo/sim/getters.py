"""libsumo's compiled getters, and reading one value per id into an array.

``libsumo.edge.getLastStepMeanSpeed(e)`` is a Python function that calls
``_libsumo.edge_getLastStepMeanSpeed(e)``; the hot paths (speed readings every simulated second,
the observation's traffic reads, the direct vehicle getters) call the compiled function itself.
The values are the same; TraCI and a libsumo build without ``_libsumo`` get the public getters.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def swig_getter(api: Any, domain: str, name: str) -> Callable[[str], Any]:
    """libsumo's compiled getter ``_libsumo.<domain>_<name>`` behind ``api.<domain>.<name>`` (the same
    C++ function without the Python wrapper frame: 60 against 97 us for Kotka's 482 speed reads),
    or the public getter where there is none (another libsumo build)."""
    raw = getattr(getattr(api, "_libsumo", None), f"{domain}_{name}", None)
    return raw if callable(raw) else getattr(getattr(api, domain), name)


def read_all(get: Callable[[str], Any], ids: Sequence[str]) -> np.ndarray:
    """``[len(ids)]`` float64 of ``get(id)``, in order, without an intermediate list."""
    return np.fromiter(map(get, ids), dtype=np.float64, count=len(ids))
