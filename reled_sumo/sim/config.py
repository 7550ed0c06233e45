"""How to start SUMO: :class:`SessionConfig` (immutable) and the binary lookup."""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from reled_sumo.errors import ConfigError

BACKENDS = ("libsumo", "traci")


def find_sumo_binary(gui: bool = False) -> str:
    """Absolute path of ``sumo`` (or ``sumo-gui``).

    Looked up in the eclipse-sumo wheel (``sumo.SUMO_HOME/bin``) first, then
    ``$SUMO_HOME/bin``, then ``PATH``. Raises :class:`ConfigError` if absent.
    """
    name = "sumo-gui" if gui else "sumo"
    homes: list[str] = []
    try:
        import sumo  # the eclipse-sumo wheel

        homes.append(str(sumo.SUMO_HOME))
    except Exception:  # noqa: BLE001 - the wheel is optional when SUMO is installed system-wide
        pass
    if os.environ.get("SUMO_HOME"):
        homes.append(os.environ["SUMO_HOME"])
    for home in homes:
        for cand in (Path(home) / "bin" / name, Path(home) / "bin" / (name + ".exe")):
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise ConfigError(
        f"cannot find the SUMO binary '{name}': install the eclipse-sumo wheel "
        "(pip install eclipse-sumo) or set SUMO_HOME"
    )


def _new_label() -> str:
    return f"reled-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class SessionConfig:
    """Options of one SUMO run.

    * ``backend``: ``"libsumo"`` (in-process, fastest; one simulation per process) or
      ``"traci"`` (a SUMO child process over a socket; any number per process).
      ``gui=True`` always uses TraCI with ``sumo-gui``.
    * ``seed``: SUMO's ``--seed`` (None: SUMO's default seed).
    * ``begin``/``end``: override the sumocfg's time window (seconds, None: keep).
    * ``extra_args``: appended verbatim to the SUMO command line.
    * ``sumo_binary``: None resolves ``sumo``/``sumo-gui`` via :func:`find_sumo_binary`.
    * ``port``: TraCI port, None picks a free one.
    * ``label``: unique TraCI connection label (auto, from a uuid).
    * ``gui_delay_ms``: sumo-gui's ``--delay``; ``gui_start``/``gui_quit_on_end``:
      ``--start`` / ``--quit-on-end``.
    * ``quiet``: ``--no-step-log --no-warnings``.
    * ``sparse_speeds``: libsumo edge mean speeds read only where vehicles are (``sim/speeds.py``;
      the same numbers); off for scenarios that change speed limits while they run.
    """

    backend: str = "libsumo"
    gui: bool = False
    seed: int | None = None
    step_length: float = 1.0
    begin: float | None = None
    end: float | None = None
    extra_args: tuple[str, ...] = ()
    sumo_binary: str | None = None
    port: int | None = None
    label: str = field(default_factory=_new_label)
    gui_delay_ms: float = 0.0
    gui_start: bool = True
    gui_quit_on_end: bool = True
    quiet: bool = True
    sparse_speeds: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown SUMO backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if not self.step_length > 0:
            raise ConfigError(f"step_length must be > 0, got {self.step_length}")
        if self.seed is not None and not (0 <= int(self.seed) < 2**31):
            raise ConfigError(f"seed must be in [0, 2**31), got {self.seed}")
        if self.port is not None and not (0 < int(self.port) < 65536):
            raise ConfigError(f"invalid TraCI port {self.port}")
        if self.begin is not None and self.end is not None and self.end <= self.begin:
            raise ConfigError(f"end ({self.end}) must be after begin ({self.begin})")
        if isinstance(self.extra_args, (str, bytes)) or not all(isinstance(a, str) for a in self.extra_args):
            raise ConfigError("extra_args must be a tuple of strings")
        object.__setattr__(self, "extra_args", tuple(self.extra_args))

    @property
    def effective_backend(self) -> str:
        """The backend actually used: the GUI always runs through TraCI."""
        return "traci" if self.gui else self.backend

    def binary(self) -> str:
        return self.sumo_binary or find_sumo_binary(self.gui)

    def command(self, sumocfg: str | Path) -> list[str]:
        """The SUMO command line for ``sumocfg`` (without ``--remote-port``)."""
        cmd = [self.binary(), "-c", str(sumocfg), "--step-length", repr(float(self.step_length))]
        if self.seed is not None:
            cmd += ["--seed", str(int(self.seed))]
        if self.begin is not None:
            cmd += ["--begin", repr(float(self.begin))]
        if self.end is not None:
            cmd += ["--end", repr(float(self.end))]
        if self.quiet:
            cmd += ["--no-step-log", "true", "--no-warnings", "true"]
        if self.gui:
            cmd += ["--delay", repr(float(self.gui_delay_ms))]
            if self.gui_start:
                cmd.append("--start")
            if self.gui_quit_on_end:
                cmd.append("--quit-on-end")
        cmd += list(self.extra_args)
        return cmd


def check_libsumo() -> str:
    """Load libsumo (in-process SUMO) and return its version string; raises ImportError if missing."""
    import libsumo  # lazy: sumo

    return str(libsumo.getVersion()[1]) if hasattr(libsumo, "getVersion") else "libsumo"
