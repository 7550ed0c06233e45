"""sumo-gui for watching and recording episodes: view settings, agent highlighting, tracking, frames.

* :func:`gui_args` writes a sumo-gui settings file (a readable light scheme, vehicles drawn
  ``vehicle_scale`` times larger, the view fitted to the network's boundary, and SUMO's own
  ``<snapshot>`` screenshots every ``record_every`` simulated seconds) and returns the
  command-line arguments (``--gui-settings-file``, ``--window-size``) for the env's
  ``sumo_args``;
* :func:`highlight` marks an agent vehicle (a coloured ring drawn by sumo-gui; its size
  and dynamics in the simulation are unchanged), :func:`track` follows one;
* :func:`wait_until_closed` keeps sumo-gui open after an episode until the user closes it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

from reled_sumo.errors import ConfigError

log = logging.getLogger(__name__)

VIEW = "View #0"
AGENT_RING = (255, 0, 0, 255)
FRAME_PATTERN = "frame_{:06d}.png"


@dataclass(frozen=True)
class GuiView:
    """How sumo-gui shows an episode. ``boundary``: (xmin, ymin, xmax, ymax) of the network."""

    boundary: tuple[float, float, float, float]
    window_size: tuple[int, int] = (1280, 900)
    vehicle_scale: float = 6.0
    delay_ms: float = 100.0

    def __post_init__(self) -> None:
        w, h = self.window_size
        if not all(isinstance(v, int) and not isinstance(v, bool) and 200 <= v <= 10000 for v in (w, h)):
            raise ConfigError(f"window size must be two integers in [200, 10000], got {self.window_size}")
        if not self.vehicle_scale >= 1.0:
            raise ConfigError(f"vehicle_scale must be >= 1, got {self.vehicle_scale}")
        x0, y0, x1, y1 = self.boundary
        if not (x1 > x0 and y1 > y0):
            raise ConfigError(f"invalid network boundary {self.boundary}")


def snapshot_times(begin: float, horizon: float, every: float) -> list[float]:
    """Simulated times of the frames: begin + every, begin + 2 every, ... up to begin + horizon."""
    if not every > 0:
        raise ConfigError(f"record interval must be > 0 simulated seconds, got {every}")
    n = int(horizon // every)
    return [begin + every * (k + 1) for k in range(n)]


def settings_xml(view: GuiView, frames: Path | None = None, times: Sequence[float] = ()) -> str:
    x0, y0, x1, y1 = view.boundary
    lines = [
        "<viewsettings>",
        '    <scheme name="reled">',
        '        <background backgroundColor="0.96,0.96,0.94" showGrid="0"/>',
        f'        <vehicles vehicleQuality="2" vehicle_minSize="1" vehicle_exaggeration="{view.vehicle_scale:g}"/>',
        "    </scheme>",
        f'    <delay value="{view.delay_ms:g}"/>',
        # zoom 100 fits the given extent into the window
        f'    <viewport zoom="100" x="{(x0 + x1) / 2:.2f}" y="{(y0 + y1) / 2:.2f}"/>',
    ]
    for k, t in enumerate(times):
        f = quoteattr(str(Path(frames or ".") / FRAME_PATTERN.format(k)))
        lines.append(f"    <snapshot file={f} time=\"{t:g}\"/>")
    lines.append("</viewsettings>")
    return "\n".join(lines) + "\n"


def gui_args(view: GuiView, settings_file: Path, frames: Path | None = None, times: Sequence[float] = ()) -> list[str]:
    """Write the settings file; the sumo-gui arguments that use it."""
    settings_file.write_text(settings_xml(view, frames, times))
    w, h = view.window_size
    return ["--gui-settings-file", str(settings_file), "--window-size", f"{w},{h}"]


def fit_view(sess, view: GuiView) -> None:
    """Zoom the view to the network's boundary."""
    sess.api.gui.setBoundary(VIEW, *view.boundary)


def ring_size(view: GuiView) -> float:
    """Radius (m) of the agents' rings: visible when the whole network is in view."""
    x0, y0, x1, y1 = view.boundary
    return max(8.0, 0.025 * max(x1 - x0, y1 - y0))


def highlight(sess, vehicle_id: str, size: float = -1.0) -> None:
    """A red ring around an agent vehicle in the GUI (drawing only)."""
    try:
        sess.api.vehicle.highlight(vehicle_id, AGENT_RING, size)
    except Exception as exc:  # noqa: BLE001 - the vehicle left meanwhile: nothing to draw
        log.debug("highlight(%s) failed: %s", vehicle_id, exc)


def track(sess, vehicle_id: str, radius_m: float = 200.0) -> None:
    """Centre the view on a vehicle, zoomed to about ``radius_m`` around it, and follow it."""
    x, y = sess.api.vehicle.getPosition(vehicle_id)
    sess.api.gui.setBoundary(VIEW, x - radius_m, y - radius_m, x + radius_m, y + radius_m)
    sess.api.gui.trackVehicle(VIEW, vehicle_id)


def gui_alive(sess) -> bool:
    return sess.is_open and sess._alive()  # noqa: SLF001 - same package


def wait_until_closed(sess, poll_s: float = 0.25) -> None:
    """Block until the user closes the sumo-gui window (the session's process ends)."""
    while gui_alive(sess):
        time.sleep(poll_s)
