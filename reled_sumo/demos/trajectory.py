"""Frozen, self-validating per-agent trajectories and the on-disk demonstration store.

A :class:`Trajectory` is one agent's episode in exactly the env's format: at each of
its T decisions the observation, the action mask, the action taken and the reward
delivered for it, plus the agent's position (for DTW) and the edge it was on.

On disk a :class:`DemoSet` is a folder::

    demos.npz       # concatenated arrays + per-trajectory offsets
    manifest.json   # scenario hash, expert, model, prompt hashes, round, metrics, per-agent summary
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from reled_sumo.errors import UserInputError

DEMO_FORMAT = 1


class DemoFormatError(UserInputError):
    """A trajectory or demonstration file that violates the documented format."""


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One agent's decisions in an episode (T >= 0 decisions)."""

    agent_id: str
    obs: np.ndarray  # [T, D] float32
    actions: np.ndarray  # [T] int64
    masks: np.ndarray  # [T, K] bool
    rewards: np.ndarray  # [T] float32: reward delivered for each decision
    positions: np.ndarray  # [T+1, 2] float64: position at each decision, then at the end
    edges: tuple[str, ...]  # the edges the vehicle drove, in order
    travel_time: float
    arrived: bool
    final_reward: float = 0.0  # reward delivered at termination/truncation after the last decision

    def __post_init__(self) -> None:
        t = len(self.actions)
        obs = np.asarray(self.obs, dtype=np.float32)
        checks = [
            (obs.ndim == 2 and obs.shape[0] == t, f"obs shape {obs.shape} != [T={t}, D]"),
            (self.masks.ndim == 2 and self.masks.shape[0] == t, f"masks shape {self.masks.shape} != [T={t}, K]"),
            (self.rewards.shape == (t,), f"rewards shape {self.rewards.shape} != [{t}]"),
            (self.positions.ndim == 2 and self.positions.shape[1] == 2, "positions must be [T+1, 2]"),
            (np.isfinite(obs).all(), "obs contain non-finite values"),
            (np.isfinite(self.rewards).all(), "rewards contain non-finite values"),
        ]
        for ok, msg in checks:
            if not ok:
                raise DemoFormatError(f"trajectory {self.agent_id}: {msg}")
        if t:
            acts = np.asarray(self.actions, dtype=np.int64)
            if acts.min() < 0 or acts.max() >= self.masks.shape[1]:
                raise DemoFormatError(f"trajectory {self.agent_id}: action out of range")
            if not self.masks[np.arange(t), acts].all():
                raise DemoFormatError(f"trajectory {self.agent_id}: an action is not allowed by its mask")
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "actions", np.asarray(self.actions, dtype=np.int64))
        object.__setattr__(self, "masks", np.asarray(self.masks, dtype=bool))
        for arr in (self.obs, self.actions, self.masks, self.rewards, self.positions):
            arr.setflags(write=False)

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def ret(self) -> float:
        """Undiscounted return: the sum of all rewards the agent received."""
        return float(self.rewards.sum()) + float(self.final_reward)


@dataclass(frozen=True, eq=False)
class DemoSet:
    """A set of trajectories (at most one per agent) with provenance and metrics."""

    trajectories: Mapping[str, Trajectory]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, tr in self.trajectories.items():
            if key != tr.agent_id:
                raise DemoFormatError(f"demo set key {key} holds trajectory of {tr.agent_id}")
        dims = {tr.obs.shape[1] for tr in self.trajectories.values() if tr.length}
        if len(dims) > 1:
            raise DemoFormatError(f"trajectories disagree on the observation size: {sorted(dims)}")

    def __len__(self) -> int:
        return len(self.trajectories)

    def with_meta(self, **extra: Any) -> "DemoSet":
        return DemoSet(self.trajectories, {**self.meta, **extra})

    # -------------------------------------------------------------- disk format
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        trs = list(self.trajectories.values())
        arrays = _pack(trs)
        tmp = folder / "demos.tmp.npz"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: named arrays are fine
        tmp.replace(folder / "demos.npz")
        manifest = {
            "format_version": DEMO_FORMAT,
            "meta": dict(self.meta),
            "agents": [{"agent_id": t.agent_id, "decisions": t.length, "edges": list(t.edges),
                        "travel_time": t.travel_time, "arrived": t.arrived, "final_reward": t.final_reward,
                        "return": t.ret} for t in trs],
        }
        (folder / "manifest.tmp.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        (folder / "manifest.tmp.json").replace(folder / "manifest.json")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "DemoSet":
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            data = np.load(folder / "demos.npz")
        except (OSError, ValueError) as exc:
            raise DemoFormatError(f"{folder} is not a demonstration set: {exc}") from exc
        if manifest.get("format_version") != DEMO_FORMAT:
            raise DemoFormatError(f"{folder}: unsupported format_version {manifest.get('format_version')}")
        trs = _unpack(data, manifest["agents"])
        return cls({t.agent_id: t for t in trs}, manifest.get("meta", {}))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _pack(trs: list[Trajectory]) -> dict[str, np.ndarray]:
    lengths = np.array([t.length for t in trs], dtype=np.int64)
    k = max((t.masks.shape[1] for t in trs), default=1)
    d = max((t.obs.shape[1] for t in trs), default=1)

    def cat(get, shape_tail, dtype):
        parts = [get(t) for t in trs]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *shape_tail), dtype)

    return {
        "lengths": lengths,
        "obs": cat(lambda t: t.obs.reshape(t.length, -1) if t.length else np.zeros((0, d)), (d,), np.float32),
        "actions": cat(lambda t: t.actions, (), np.int64),
        "masks": cat(lambda t: t.masks if t.length else np.zeros((0, k), bool), (k,), bool),
        "rewards": cat(lambda t: t.rewards, (), np.float32),
        "positions": cat(lambda t: t.positions, (2,), np.float64),
    }


def _unpack(data: Mapping[str, np.ndarray], agents: list[dict[str, Any]]) -> list[Trajectory]:
    lengths = data["lengths"]
    if len(lengths) != len(agents):
        raise DemoFormatError("demos.npz and manifest.json disagree on the number of trajectories")
    out, o, p = [], 0, 0
    for n, info in zip(lengths, agents):
        n = int(n)
        out.append(Trajectory(
            agent_id=info["agent_id"], obs=data["obs"][o:o + n], actions=data["actions"][o:o + n],
            masks=data["masks"][o:o + n], rewards=data["rewards"][o:o + n],
            positions=data["positions"][p:p + n + 1], edges=tuple(info["edges"]),
            travel_time=float(info["travel_time"]), arrived=bool(info["arrived"]),
            final_reward=float(info.get("final_reward", 0.0)),
        ))
        o, p = o + n, p + n + 1
    return out


def merge_best(current: DemoSet, candidates: Iterable[Trajectory], better) -> DemoSet:
    """Replace an agent's trajectory by a candidate when ``better(candidate, current)`` holds."""
    trs = dict(current.trajectories)
    for c in candidates:
        old = trs.get(c.agent_id)
        if old is None or better(c, old):
            trs[c.agent_id] = c
    return DemoSet(trs, current.meta)
