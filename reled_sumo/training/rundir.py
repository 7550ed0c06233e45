"""A run folder claimed by one training process: marker file, exclusive lock, cleanup of a failed start.

* A run folder carries the marker ``.reled-run``. ``reled train --out DIR`` refuses a DIR that
  exists, is not empty and is neither marked nor an older run (``checkpoint.pt`` + ``config.yaml``),
  so a run never writes into a scenario or any other folder.
* ``.reled-run.lock`` is held with an exclusive ``fcntl.flock`` for the run's lifetime: a second
  process on the same folder is refused at once with the holder's pid. The kernel drops the lock
  when the holder dies (also on ``kill -9``), so a stale lock file never blocks a resume.
* A fresh run that stops before its first checkpoint removes the files it created, by name
  (``RUN_FILES``, TensorBoard event files, ``demos/``'s files; the folder too if it made it and it is
  then empty), so nothing half-made is left, and nothing someone else put there is touched.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from reled_sumo.errors import UserInputError
from reled_sumo.safe_write import acquire_lock

log = logging.getLogger(__name__)

MARKER = ".reled-run"
LOCK = ".reled-run.lock"
# What a run writes into its folder, by name: a failed start removes these and nothing else.
RUN_FILES = frozenset({MARKER, "config.yaml", "scenario.json", "progress.csv", "log.txt", "checkpoint.pt",
                       "checkpoint.pt.tmp", "config.yaml.tmp"})
TB_PREFIX = "events.out.tfevents."  # TensorBoard event files (SB3's logger)
DEMOS = "demos"
DEMO_FILES = ("demos.npz", "demos.tmp.npz", "manifest.json", "manifest.tmp.json")


class RunInUseError(UserInputError):
    """Another process holds the run folder's lock."""


def is_run_dir(path: Path) -> bool:
    """A folder this project made for a run: the marker, or (older runs) a checkpoint and config."""
    return (path / MARKER).is_file() or ((path / "checkpoint.pt").is_file() and (path / "config.yaml").is_file())


class RunDir:
    """The claim of one process on one run folder; :meth:`release` ends it."""

    def __init__(self, path: Path, fd: int, created: bool, before: set[str], resume: bool):
        self.path, self._fd, self.created, self._before, self.resume = path, fd, created, before, resume

    @classmethod
    def claim(cls, path: str | Path, resume: bool = False) -> "RunDir":
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserInputError(f"run folder {path} is a file; choose another --out")
        created = not path.exists()
        if resume and created:
            raise UserInputError(f"cannot resume: no checkpoint at {path / 'checkpoint.pt'} (no such folder)")
        before = {p.name for p in path.iterdir()} if not created else set()
        if before and not is_run_dir(path):
            raise UserInputError(f"{path} exists, is not empty and is not a reled run folder (no {MARKER}); "
                                 "refusing to write into it; choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        fd = acquire_lock(path / LOCK, f"run folder {path} is in use by another reled process", RunInUseError,
                          "; wait for it to finish or choose another --out")
        if not (path / MARKER).is_file():
            (path / MARKER).write_text(json.dumps({"kind": "reled-sumo training run", "format": 1}) + "\n")
        return cls(path, fd, created, before, resume)

    def release(self, keep: bool) -> None:
        """Unlock. ``keep=False`` (a fresh run with no checkpoint): remove what this run created."""
        try:
            if not keep and not self.resume:
                self._remove_created()
        finally:
            if self._fd >= 0:
                os.close(self._fd)  # drops the flock
                self._fd = -1

    def _remove_created(self) -> None:
        """Remove, by name, the files a run writes that were not there before; nothing else."""
        for p in sorted(self.path.iterdir()):
            if p.name in self._before or p.name == LOCK or p.is_symlink():
                continue
            if p.name == DEMOS and p.is_dir():
                for f in DEMO_FILES:
                    (p / f).unlink(missing_ok=True)
                _rmdir_if_empty(p)
            elif p.is_file() and (p.name in RUN_FILES or p.name.startswith(TB_PREFIX) or _our_temp(p.name)):
                p.unlink(missing_ok=True)
        if self.created:
            if not any(p.name != LOCK for p in self.path.iterdir()):
                (self.path / LOCK).unlink(missing_ok=True)
            _rmdir_if_empty(self.path)
        log.info("the run stopped before its first checkpoint; removed the files it had created in %s", self.path)


def _our_temp(name: str) -> bool:
    """A temporary file of :mod:`reled_sumo.safe_write` for one of the run's files."""
    return name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES)


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        log.warning("kept %s: it holds files this run did not write", path)
