"""``TrainConfig``: every option of a ``reled train`` run, loaded from YAML plus CLI overrides.

The YAML file mirrors the nested dataclasses (see the bundled reled_sumo/data/configs/default.yaml,
``--config default``, and docs/training.md). Unknown keys raise :class:`~reled_sumo.errors.ConfigError` naming the
full dotted key; invalid values raise it from the dataclasses' own validation.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from reled_sumo.data import config_path
from reled_sumo.env.config import EnvConfig
from reled_sumo.errors import ConfigError
from reled_sumo.experts.factory import ExpertOptions
from reled_sumo.safe_write import atomic_write
from reled_sumo.experts.sed import SEDConfig
from reled_sumo.optim.hpo import HPOConfig
from reled_sumo.validation import check_field_types

ALGOS = ("reled", "ippo", "mappo", "bc")


def usable_cpus() -> int:
    """The CPU cores this process may run on (its affinity where the OS tells it, else the count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

Algo = Literal["reled", "ippo", "mappo", "bc"]


@dataclass(frozen=True)
class TrainConfig:
    """A training run. The budget ``total_decisions`` counts agent decisions (see docs/training.md)."""

    scenario: str = "kotka"
    algo: Algo = "reled"
    seed: int = 0
    total_decisions: int = 200_000  # budget: stop after the update that reaches this many agent decisions
    total_updates: int | None = None  # budget in updates instead: when set, total_decisions is not used
    episodes_per_update: int = 1
    sed_every: int = 10  # refresh demos every T updates (reled only); 0 = never
    no_sed: bool = False  # ablation: one expert pass (SED rounds=1), never refreshed
    eval_every: int = 0  # deterministic evaluation episode every E updates; 0 = never
    checkpoint_every: int = 1  # write checkpoint.pt every C updates (and always at the end / on Ctrl-C)
    dtw_points: int = 32
    device: str = "cpu"
    torch_threads: int = 1  # torch CPU threads during the run (small nets + SUMO: more threads only contend)
    rollout_workers: int = 0  # 0: rollouts in the learner's process; N: N worker processes, one SUMO each
    ray_address: str | None = None  # None: the workers are local processes; auto | local | <address>: Ray actors
    overlap_rollouts: bool = False  # play the next update's episodes on a worker during learning (lag 1)
    # W > 0: an update's episodes play at once, on the learner and W worker processes (the run does not
    # depend on W); "auto": one worker per spare CPU core, at most episodes_per_update - 1, where allowed
    episode_workers: int | Literal["auto"] = "auto"
    # the rollouts' policy forward: "numpy", a numpy copy of the shared candidate policy's weights
    # (optim/fast_act.py; the same actions from the same random numbers, values and log-probs to
    # float32 rounding); "torch", torch's forward, bit for bit as before 2026-12-06
    rollout_forward: Literal["numpy", "torch"] = "numpy"
    env: EnvConfig = field(default_factory=EnvConfig)
    hpo: HPOConfig = field(default_factory=HPOConfig)
    sed: SEDConfig = field(default_factory=SEDConfig)
    expert: ExpertOptions = field(default_factory=ExpertOptions)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if not self.scenario:
            raise ConfigError("scenario must be given")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**31):
            raise ConfigError(f"seed must be an integer in [0, 2**31), got {self.seed!r}")
        for name in ("total_decisions", "episodes_per_update", "checkpoint_every", "dtw_points",
                     "torch_threads"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.total_updates is not None and not (isinstance(self.total_updates, int) and self.total_updates >= 1):
            raise ConfigError(f"total_updates must be an integer >= 1 or null, got {self.total_updates!r}")
        for name in ("sed_every", "eval_every", "rollout_workers"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.ray_address is not None and (not self.ray_address.strip() or self.rollout_workers < 1):
            raise ConfigError(f"ray_address needs a non-empty address and rollout_workers >= 1 (--workers N), "
                              f"got {self.ray_address!r} with rollout_workers={self.rollout_workers}")
        if self.overlap_rollouts and self.rollout_workers:
            raise ConfigError("overlap_rollouts needs rollout_workers: 0 (it runs its own worker process)")
        w = self.episode_workers
        if w != "auto" and not (isinstance(w, int) and w >= 0):
            raise ConfigError(f"episode_workers must be an integer >= 0 or 'auto', got {w!r}")
        if isinstance(w, int) and w:
            self._check_episode_workers(w)
        if self.rollout_forward not in ("numpy", "torch"):
            raise ConfigError(f"rollout_forward must be 'numpy' or 'torch', got {self.rollout_forward!r}")
        if self.env.render_mode is not None:
            raise ConfigError("training runs headless: env.render_mode must be null")
        for name in ("pi_hidden", "vf_hidden"):
            check_network_size(f"hpo.{name}", getattr(self.hpo, name))

    def _check_episode_workers(self, workers: int) -> None:
        if self.rollout_workers or self.overlap_rollouts:
            raise ConfigError("episode_workers cannot be combined with rollout_workers or overlap_rollouts")
        if workers >= self.episodes_per_update:
            raise ConfigError(f"episode_workers ({workers}) must be below episodes_per_update "
                              f"({self.episodes_per_update}): the learner and every worker play at least one "
                              "of an update's episodes")
        if self.device != "cpu":
            raise ConfigError(f"episode_workers needs device: cpu (the workers play on CPU), got {self.device!r}")

    def resolved_episode_workers(self, cpus: int | None = None) -> int:
        """How many episode worker processes the run starts: the number given, or for ``"auto"`` one per
        spare CPU core (``cpus``: this process's usable cores), at most ``episodes_per_update - 1``, and
        none where episode workers are not allowed (rollout workers, overlap, a GPU)."""
        if self.episode_workers != "auto":
            return int(self.episode_workers)
        if self.rollout_workers or self.overlap_rollouts or self.device != "cpu":
            return 0
        return max(0, min(self.episodes_per_update - 1, (usable_cpus() if cpus is None else cpus) - 1))

    @property
    def uses_demos(self) -> bool:
        return self.algo in ("reled", "bc")

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


# ------------------------------------------------------------------------ loading
def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively (YAML-friendly)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _dataclass_type(tp: Any) -> type | None:
    """The dataclass in ``tp`` (``X`` or ``X | None``), else None."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg
    return None


def build_dataclass(cls: type, data: Mapping[str, Any] | None, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a nested mapping; unknown keys raise ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'"
                          f"{' (and ' + str(len(unknown) - 1) + ' more)' if len(unknown) > 1 else ''}; "
                          f"known keys{' of ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _dataclass_type(hints.get(name))
        if sub is not None and (isinstance(value, Mapping) or value is None):
            kwargs[name] = build_dataclass(sub, value, f"{prefix}{name}.")
        elif sub is not None and not isinstance(value, sub):
            raise ConfigError(f"{prefix}{name} must be a mapping, got {value!r}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # e.g. a comparison of a string with a number in validation
        raise ConfigError(f"invalid value in {prefix.rstrip('.') or 'config'}: {exc}") from exc
    except ConfigError as exc:  # name the dotted key: "hpo.n_epochs must be a whole number, got 2.5"
        msg = str(exc)
        if not prefix or msg.startswith(prefix):
            raise
        dotted = f"{prefix}{msg}" if msg.split(" ", 1)[0] in known else f"{prefix.rstrip('.')}: {msg}"
        raise ConfigError(dotted) from exc


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``data["a"]["b"] = value`` for ``key="a.b"`` (creating intermediate mappings)."""
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {p!r} is not a mapping")
    node[parts[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def default_config_path() -> Path:
    """The bundled ``default`` config (reled_sumo/data/configs/default.yaml): the settings ``reled train``
    uses without ``--config`` (the configuration that learns; the dataclass defaults are the neutral
    building blocks)."""
    return config_path("default")


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults <- YAML file ``path`` (or a bundled config's name: ``default``, ``ci``) <- ``overrides``
    (dotted keys, None values ignored)."""
    data = read_yaml(config_path(path)) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, key, value)
    return build_dataclass(TrainConfig, data)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    return build_dataclass(TrainConfig, data)


# Upper limits of the policy networks: beyond them building the policy exhausts memory (a weight
# is 4 bytes, and Adam keeps 3 more per weight).
MAX_LAYER_WIDTH = 65_536
MAX_HIDDEN_WEIGHTS = 50_000_000


def check_network_size(name: str, hidden: tuple[int, ...]) -> None:
    """Refuse hidden layer sizes that cannot fit in memory, naming sizes that would."""
    sizes = [int(h) for h in hidden]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if weights > MAX_HIDDEN_WEIGHTS:
        width = int((MAX_HIDDEN_WEIGHTS / (len(sizes) - 1)) ** 0.5)
        raise ConfigError(f"{name} {sizes} is too large: {weights:,} weights between its layers "
                          f"({weights * 16 / 2**30:,.0f} GiB with Adam's state); at most {MAX_HIDDEN_WEIGHTS:,} "
                          f"fit, e.g. {[width] * len(sizes)}")
    if sizes and max(sizes) > MAX_LAYER_WIDTH:
        raise ConfigError(f"{name} {sizes} is too large: a layer is at most {MAX_LAYER_WIDTH} wide")


def dump_config(cfg: TrainConfig, path: str | Path) -> None:
    atomic_write(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # a full disk leaves the old file whole
