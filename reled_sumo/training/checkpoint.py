"""Training checkpoints: atomic writes, RNG capture/restore, and :func:`load_policy` for eval/watch.

A checkpoint (``runs/<id>/checkpoint.pt``, ``torch.save`` of plain containers and tensors,
loadable with ``weights_only=True``) holds::

    format        1
    meta          algo, scenario name/hash, possible_agents, sizes, policy config, counters, config
    hpo           HybridPPO.state_dict(): policy, Adam state, gradient-step counter
    hpo_rng       HybridPPO's minibatch-shuffling generator state
    rng           torch / numpy / python global RNG states
    run           updates, decisions, episodes (the env seed sequence index), demo version,
                  measured edge travel times, SED bound, wall seconds
    expert        the demonstrations in optimizer form (or None)

It is written to a temporary file beside it and then renamed (:func:`atomic_save`), so a crash
or a full disk mid-write never leaves a torn file.
"""
from __future__ import annotations

import errno
import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.logger import (
    CSVOutputFormat, HumanOutputFormat, Logger, configure, make_output_format,
)

from reled_sumo.errors import UserInputError, first_line
from reled_sumo.optim.policy import MultiAgentPolicy, PolicyConfig, build_policy
from reled_sumo.safe_write import atomic_file, atomic_write
from reled_sumo.training.mappo import CentralCriticPolicy

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file, renamed into place; a full disk is an ``OSError`` (ENOSPC)
    and leaves neither the temporary file nor a damaged ``path``."""
    path = Path(path)
    with atomic_file(path) as tmp:
        try:
            th.save(obj, tmp)
        except RuntimeError as exc:  # torch's writer reports a failed write (full disk) as RuntimeError
            if "unexpected pos" in str(exc) or "write" in str(exc).lower():
                why = f"{os.strerror(errno.ENOSPC)}? torch could not write the checkpoint ({first_line(exc)})"
                raise OSError(errno.ENOSPC, why, str(path)) from exc
            raise
    return path


def checkpoint_file(run: str | Path) -> Path:
    """``run`` itself if it is a file, else ``run/checkpoint.pt`` (UserInputError if missing)."""
    p = Path(run)
    f = p if p.is_file() else p / CHECKPOINT
    if not f.is_file():
        raise UserInputError(f"no training checkpoint at {f}")
    return f


# What a checkpoint must hold (None: the value may be anything, e.g. no demonstrations).
REQUIRED: dict[str, tuple[str, ...] | None] = {
    "meta": ("algo", "possible_agents", "policy_config", "n_agents", "obs_dim", "n_actions"),
    "hpo": ("policy", "optimizer", "n_updates"),
    "hpo_rng": None,
    "rng": ("torch", "numpy", "python"),
    "run": ("updates", "decisions", "episodes", "wall_seconds", "measured_tt"),
    "expert": None,
}


def load_checkpoint(run: str | Path) -> dict[str, Any]:
    f = checkpoint_file(run)
    try:
        data = th.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        why = str(exc).strip() or type(exc).__name__
        if isinstance(exc, OSError) and exc.errno is not None:
            why = f"{exc.strerror or 'read error'} (errno {exc.errno})"
        raise UserInputError(f"{f} is truncated, corrupt or not a training checkpoint ({f.stat().st_size} bytes; "
                             f"{why}); resume from another copy or start a new run") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        version = data.get("format") if isinstance(data, dict) else "?"
        raise UserInputError(f"{f}: unsupported checkpoint format {version}")
    missing = [k for k in REQUIRED if k not in data]
    missing += [f"{k}.{sub}" for k, subs in REQUIRED.items() if subs and isinstance(data.get(k), dict)
                for sub in subs if sub not in data[k]]
    missing += [k for k, subs in REQUIRED.items() if subs and k in data and not isinstance(data[k], dict)]
    if missing:
        raise UserInputError(f"{f} is incomplete: it lacks {', '.join(missing)}; it was not written by a "
                             "complete run of this version (resume from another copy or start a new run)")
    return data


# ------------------------------------------------------------------------------ RNGs
def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {"torch": th.get_rng_state(), "numpy": (kind, th.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss,
                                                   gauss),
            "python": random.getstate()}


def restore_rng(state: dict[str, Any]) -> None:
    th.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    v, internal, g = state["python"]
    random.setstate((v, tuple(internal), g))


def _stringify(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _stringify(v) for k, v in x.items()}
    return str(x) if isinstance(x, int) and not isinstance(x, bool) else x


def _unstringify(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _unstringify(v) for k, v in x.items()}
    return int(x) if isinstance(x, str) and x.lstrip("-").isdigit() else x


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's state (128-bit integers as strings, for weights_only loading)."""
    return _stringify(gen.bit_generator.state)


def set_generator_state(gen: np.random.Generator, state: dict[str, Any]) -> None:
    gen.bit_generator.state = _unstringify(state)


def to_tensor(a: np.ndarray | None) -> th.Tensor | None:
    return None if a is None else th.from_numpy(np.ascontiguousarray(a))


def to_numpy(t: th.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.numpy()


# ------------------------------------------------------------------------ run folder
def scenario_label(scenario: str | Path) -> str:
    """A scenario name or folder as a short label (for run ids)."""
    return Path(str(scenario)).name or str(scenario)


def open_logger(folder: str | Path, resume_updates: int | None = None) -> Logger:
    """SB3 logger writing progress.csv, log.txt and TensorBoard event files into ``folder``.

    On resume the logs keep their earlier content, with the CSV rows of updates after the
    checkpoint's (``resume_updates``) dropped. Both files are rewritten atomically (temporary
    file + rename) before the logger appends to them, so a full disk leaves them whole.
    """
    folder = Path(folder)
    if resume_updates is None:
        return configure(str(folder), ["csv", "log", "tensorboard"])  # `tensorboard --logdir runs`
    csv, txt = folder / "progress.csv", folder / "log.txt"
    header: list[str] = []
    if csv.is_file():
        lines = csv.read_text().splitlines()
        if lines:
            header = lines[0].split(",")
            col = header.index("time/updates") if "time/updates" in header else None
            rows = [r for r in lines[1:] if col is None or _num(r.split(",")[col]) <= resume_updates]
            atomic_write(csv, "\n".join([lines[0], *rows]) + "\n")
    old_log = txt.read_text() if txt.is_file() else ""
    atomic_write(txt, old_log + f"--- resumed after update {resume_updates} ---\n")
    human = HumanOutputFormat(open(txt, "a"))  # noqa: SIM115 - the logger owns it from here on
    human.own_file = True
    fmt = CSVOutputFormat(os.devnull)
    fmt.file.close()
    fmt.file = open(csv, "a+" if not header else "r+")  # noqa: SIM115 - r+ keeps SB3's header rewrite working
    fmt.file.seek(0, os.SEEK_END)
    fmt.keys = header
    return Logger(str(folder), [fmt, human, make_output_format("tensorboard", str(folder))])


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


# --------------------------------------------------------------------------- policies
def policy_meta(policy: MultiAgentPolicy, central_critic: bool) -> dict[str, Any]:
    own = getattr(policy, "own_dim", policy.obs_dim)
    return {"policy_config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(policy.cfg).items()},
            "n_agents": policy.n_agents, "obs_dim": int(own), "n_actions": policy.n_actions,
            "central_critic": central_critic, "state_dim": int(getattr(policy, "state_dim", 0))}


def build_run_policy(meta: dict[str, Any]) -> MultiAgentPolicy:
    """An untrained policy of the architecture ``meta`` describes."""
    cfg = PolicyConfig(**meta["policy_config"])
    if meta.get("central_critic"):
        return CentralCriticPolicy(cfg, meta["n_agents"], meta["obs_dim"], meta["n_actions"], meta["state_dim"])
    return build_policy(cfg, meta["n_agents"], meta["obs_dim"], meta["n_actions"])


def load_policy(run: str | Path, device: th.device | str = "cpu") -> tuple[MultiAgentPolicy, dict[str, Any]]:
    """The trained policy of a run folder (or checkpoint file), in eval mode, and its ``meta``.

    ``policy.act(obs[B, D], agent_index[B], mask[B, K], deterministic=True)`` acts on plain
    env observations for every algo (a MAPPO critic then sees a zero global state).
    ``meta`` has ``algo``, ``scenario``, ``scenario_hash``, ``possible_agents``, ``obs_dim``,
    ``n_actions``, ``updates``, ``decisions``, ``env`` (EnvConfig dict) and ``config``.
    """
    data = load_checkpoint(run)
    meta = dict(data["meta"])
    try:
        policy = build_run_policy(meta)
        policy.load_state_dict(data["hpo"]["policy"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise UserInputError(f"the policy in {checkpoint_file(run)} does not match its own description: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    policy.to(device).eval()
    meta.update(updates=int(data["run"]["updates"]), decisions=int(data["run"]["decisions"]),
                env=meta.get("config", {}).get("env", {}))
    return policy, meta
