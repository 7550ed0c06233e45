"""Assemble sumo-gui's screenshots into a GIF or an MP4 (imageio; MP4 through imageio-ffmpeg)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reled_sumo.errors import UserInputError

log = logging.getLogger(__name__)

FORMATS = (".gif", ".mp4")


def check_output(path: Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise UserInputError(f"--record must end in .gif or .mp4, got {p.name}")
    if not p.parent.exists():
        raise UserInputError(f"folder {p.parent} does not exist")
    return p


@dataclass(frozen=True)
class Recording:
    path: Path
    frames: int
    size_bytes: int
    width: int
    height: int


def _frames(folder: Path) -> list[np.ndarray]:
    import imageio.v3 as iio  # lazy: imageio

    out = []
    for f in sorted(folder.glob("frame_*.png")):
        img = iio.imread(f)
        out.append(img[..., :3] if img.ndim == 3 and img.shape[2] == 4 else img)
    return out


def assemble(folder: Path, out: Path, fps: float = 10.0) -> Recording:
    """Write every ``frame_*.png`` of ``folder`` (in order) to ``out`` (.gif or .mp4)."""
    import imageio.v2 as iio2  # lazy: imageio

    frames = _frames(folder)
    if not frames:
        raise UserInputError("sumo-gui wrote no frames: was the episode shorter than --record-every?")
    h, w = frames[0].shape[:2]
    frames = [f for f in frames if f.shape[:2] == (h, w)]
    if out.suffix.lower() == ".gif":
        iio2.mimsave(out, frames, duration=1000.0 / fps, loop=0)  # type: ignore[arg-type]  # imageio's stub
    else:
        # libx264 needs even sizes: crop one pixel row/column if needed instead of rescaling
        frames = [f[: h - h % 2, : w - w % 2] for f in frames]
        iio2.mimsave(out, frames, fps=fps, codec="libx264", macro_block_size=1, quality=7)  # type: ignore[arg-type]
    log.info("wrote %s: %d frames of %dx%d", out, len(frames), w, h)
    return Recording(out, len(frames), out.stat().st_size, w, h)
