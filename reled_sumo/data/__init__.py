"""Files shipped inside the package (package data, read through :mod:`importlib.resources`).

* ``cities/<city>.yaml``: the bundled city recipes (``reled scenario build kotka``).
* ``configs/<name>.yaml``: training configs (``reled train --config default``) and
  ``configs/suite_<name>.yaml``: learning suites (``reled bench learn --suite small``).

A name given by the user is first taken as a file path; a bare name (no folder, no ``.yaml``)
that is not a file is looked up among the bundled files.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from reled_sumo.errors import ConfigError


def _bundled(folder: str) -> Path:
    # a regular (unzipped) install: the resource folder is a real directory
    return Path(str(files(__name__) / folder))


def cities_dir() -> Path:
    return _bundled("cities")


def configs_dir() -> Path:
    return _bundled("configs")


def bundled_configs() -> list[str]:
    """Names of the bundled training configs (``--config NAME``), suites excluded."""
    return sorted(p.stem for p in configs_dir().glob("*.yaml") if not p.stem.startswith("suite_"))


def bundled_suites() -> list[str]:
    """Names of the bundled suites (``--suite NAME``)."""
    return sorted(p.stem.removeprefix("suite_") for p in configs_dir().glob("suite_*.yaml"))


def _is_bare(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml"))


def _resolve(name_or_path: str | Path, kind: str, bundled: list[str], prefix: str) -> Path:
    p = Path(name_or_path)
    if str(name_or_path).strip() and p.exists():
        return p  # a user's file (or folder: the reader says what is wrong with it)
    name = str(name_or_path)
    if _is_bare(name) and name in bundled:
        return configs_dir() / f"{prefix}{name}.yaml"
    listed = f"bundled: {', '.join(bundled) or '(none found)'}"
    if _is_bare(name) or not name.strip():
        raise ConfigError(f"no {kind} {name!r}: not a file, and not a bundled {kind} ({listed})")
    stem = p.stem.removeprefix(prefix)
    hint = f"; the bundled {kind}s are inside the package now: use {stem!r}" if stem in bundled else ""
    raise ConfigError(f"cannot read {kind} file {p}: no such file ({listed}){hint}")


def config_path(name_or_path: str | Path) -> Path:
    """A YAML file path, or a bundled training config's name (``default``, ``ci``)."""
    return _resolve(name_or_path, "config", bundled_configs(), "")


def suite_path(name_or_path: str | Path) -> Path:
    """A YAML file path, or a bundled suite's name (``small``, ``ci``, ...)."""
    return _resolve(name_or_path, "suite", bundled_suites(), "suite_")
