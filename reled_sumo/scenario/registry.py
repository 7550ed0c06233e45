"""Bundled city recipes (package data ``reled_sumo/data/cities/*.yaml``) and where built scenarios live."""
from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from reled_sumo.data import cities_dir
from reled_sumo.errors import ScenarioError, UnknownCityError, UserInputError

RECIPES_ENV = "RELED_RECIPES"
HOME_ENV = "RELED_HOME"
MAX_NAME_LEN = 64
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def recipes_dir() -> Path:
    env = os.environ.get(RECIPES_ENV)
    if env:
        return Path(env)
    return cities_dir()


def reled_home() -> Path:
    """Root of built scenarios and caches: $RELED_HOME, default (also when it is empty) ./.reled in the
    working directory. A $RELED_HOME that exists but is not a folder is an OSError (ENOTDIR)."""
    env = os.environ.get(HOME_ENV, "").strip()
    home = Path(env) if env else Path.cwd() / ".reled"
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"not a folder (${HOME_ENV})", str(home))
    return home


def check_name(name: str) -> str:
    """``name`` if it is a safe scenario name (a slug), else UserInputError.

    A name becomes one folder under ``$RELED_HOME/scenarios``: lowercase letters, digits,
    ``.``, ``_`` and ``-``, starting with a letter or digit, at most MAX_NAME_LEN characters.
    So no separators, no ``.``/``..``, no absolute paths: a name can never leave that folder.
    """
    if not isinstance(name, str) or not name:
        raise UserInputError("a scenario name must not be empty")
    if len(name) > MAX_NAME_LEN:
        raise UserInputError(f"scenario name too long ({len(name)} characters; at most {MAX_NAME_LEN})")
    if not _NAME.fullmatch(name):
        raise UserInputError(f"invalid scenario name {name!r}: use lowercase letters, digits, '.', '_' and '-', "
                             "starting with a letter or digit")
    return name


def is_valid_name(name: str) -> bool:
    try:
        check_name(name)
    except UserInputError:
        return False
    return True


def built_dir(name: str) -> Path:
    """``$RELED_HOME/scenarios/<name>`` for a valid name (UserInputError otherwise)."""
    return reled_home() / "scenarios" / check_name(name)


@dataclass(frozen=True)
class DemandDefaults:
    agents: int = 100
    background_vehicles: int = 900
    duration: float = 1800.0
    seed: int = 42


@dataclass(frozen=True)
class Recipe:
    name: str
    display_name: str
    description: str
    package: str
    resource: str
    provider: str
    licence: str
    bbox: tuple[float, float, float, float] | None
    demand: DemandDefaults
    path: Path

    @classmethod
    def load(cls, path: Path) -> "Recipe":
        try:
            raw = yaml.safe_load(path.read_text())
            src = raw["source"]
            bbox = tuple(float(v) for v in raw["bbox"]) if raw.get("bbox") else None
            if bbox is not None and len(bbox) != 4:
                raise ValueError(f"bbox must be 4 numbers (west, south, east, north), got {raw['bbox']!r}")
            return cls(
                name=raw["name"], display_name=raw.get("display_name", raw["name"]),
                description=raw.get("description", ""), package=src["package"], resource=src["resource"],
                provider=src.get("provider", ""), licence=src.get("licence", "ODbL 1.0"),
                bbox=bbox, demand=DemandDefaults(**raw.get("demand", {})), path=path,
            )
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise ScenarioError(f"recipe {path} is invalid: {exc}") from exc


def bundled() -> dict[str, Recipe]:
    d = recipes_dir()
    if not d.is_dir():
        return {}
    return {r.name: r for r in (Recipe.load(p) for p in sorted(d.glob("*.yaml")))}


def get_recipe(name: str) -> Recipe:
    recipes = bundled()
    key = name.strip().lower()
    if key not in recipes:
        raise UnknownCityError(
            f"unknown city '{name}'. Bundled cities: {', '.join(sorted(recipes)) or '(none found)'}. "
            "For another place use a place name with network access (reled scenario build \"Town, Country\") "
            "or a local file (reled scenario build --osm map.osm.pbf --name NAME)."
        )
    return recipes[key]


def looks_like_place(name: str) -> bool:
    """A place name for osmnx ("Piedmont, California") rather than a bundled city key."""
    return "," in name or " " in name.strip()
