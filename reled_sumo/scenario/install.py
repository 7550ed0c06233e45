"""The one safe-write path of ``reled scenario build`` and ``reled scenario import``.

* A target that exists but is not a scenario folder (a file, a symlink, a non-empty folder without
  ``scenario.json``) is refused before anything is written.
* The same inputs are a cache hit (nothing written). A scenario made from other inputs is only
  replaced with ``replace=True`` (runs trained on it could no longer resume).
* One writer per name: ``scenarios/.<name>.lock`` is held with ``fcntl.flock`` while a scenario is
  made and installed (and deleted after); a second build or import of the same name is refused at once.
* The scenario is made in a fresh ``scenarios/.<name>.building-XXXX`` folder (``mkdtemp``; a dot
  name is never a valid scenario name, so it is never confused with one) and renamed into place;
  on failure only that folder is removed. A replaced scenario loses only the files a build writes.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from reled_sumo.errors import ScenarioError, UserInputError
from reled_sumo.safe_write import exclusive_lock
from reled_sumo.scenario.manifest import MANIFEST, Scenario, load_scenario_dir

log = logging.getLogger(__name__)


def cached(out: Path, key: str) -> Scenario | None:
    """The scenario at ``out`` if it was made from the inputs ``key`` and its files are intact."""
    if not (out / MANIFEST).is_file() or out.is_symlink():
        return None
    try:
        sc = load_scenario_dir(out)
        if sc.manifest.get("build_key") != key:
            return None
        sc.verify()
        return sc
    except ScenarioError as exc:
        log.info("cached scenario at %s not reusable: %s", out, exc)
        return None


def check_target(out: Path) -> None:
    """Refuse a target that exists but is not a scenario folder (or an empty folder)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserInputError(f"{out} exists and is not a scenario folder; choose another --name")
    if out.is_dir() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise UserInputError(f"{out} exists, is not empty and is not a scenario folder (no {MANIFEST}); "
                             "refusing to touch it; choose another --name")


def check_replace(out: Path, key: str, replace: bool) -> None:
    """A scenario made from other inputs may have runs that depend on it: refuse to replace it."""
    if replace or not (out / MANIFEST).is_file():
        return
    try:
        old = load_scenario_dir(out)
        if old.manifest.get("build_key") == key:
            return  # same inputs: remaking it reproduces the same scenario
        what = f"scenario '{old.name}' (hash {old.scenario_hash}) was built from other inputs"
    except ScenarioError as exc:
        what = f"{out} holds an unreadable scenario ({exc})"
    raise UserInputError(f"{what}; runs trained on it could no longer resume. Use another name "
                         "with --name NEW, or replace it with --replace")


def work_dir(out: Path) -> Path:
    """A fresh ``.<name>.building-XXXX`` folder beside ``out``, with the usual umask permissions."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a scenario folder is as shared as any other
    return work


def publish(out: Path, key: str, make: Callable[[Path], object], *, force: bool = False, replace: bool = False,
            work: Path | None = None) -> tuple[Scenario, bool]:
    """Make the scenario ``key`` at ``out`` with ``make(work_folder)``: ``(scenario, cache_hit)``.

    ``work`` (optional) is a work folder from :func:`work_dir` the caller already holds; it is
    this function's to install or remove from then on."""
    try:
        check_target(out)
        if not force and (hit := cached(out, key)) is not None:
            return hit, True
        out.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(out.parent / f".{out.name}.lock",
                            f"scenario '{out.name}' is being built or imported by another reled process",
                            remove=True):
            check_target(out)  # again, under the lock: another process may have installed it meanwhile
            if not force and (hit := cached(out, key)) is not None:
                return hit, True
            check_replace(out, key, replace)
            work = work or work_dir(out)
            make(work)
            install(work, out)
            work = None
    finally:
        if work is not None:  # our own fresh work folder (mkdtemp), never anything else
            shutil.rmtree(work, ignore_errors=True)
    return load_scenario_dir(out), False


def install(work: Path, out: Path) -> None:
    """Rename ``work`` to ``out``; an old scenario there loses only the files a build writes."""
    if not out.exists():
        work.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    out.rename(old / "old")
    work.rename(out)
    ours = {p.relative_to(out) for p in out.rglob("*")} | {Path(MANIFEST)}
    for rel in sorted(ours, key=lambda r: len(r.parts), reverse=True):
        p = old / "old" / rel
        if p.is_file() and not p.is_symlink():
            p.unlink()
        elif p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
            p.rmdir()
    for d in (old / "old", old):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    if old.exists():
        log.warning("the replaced scenario held files the builder did not write; kept them in %s", old / "old")
