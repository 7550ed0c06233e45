"""Behaviour hashes of the routing env: one SHA-256 per case over whole episodes.

Every observation, reward, termination, truncation and info that ``reset`` and ``step``
return is fed to the hash, in the order the env returns them (dict order included), with
each value's type, dtype and shape, so that a refactor of the env that changes any of
them changes the hash. Run before and after a change and compare::

    RELED_HOME=/tmp/h PYTHONPATH=$PWD python tests/tools/behaviour_hash.py --scenario kotka \
        --all-scenario kotka-all

``--scenario`` needs >= 100 agents (the bundled ``kotka`` has 100); ``--all-scenario`` is a
scenario with >= 1,000 agents (``reled scenario build kotka --name kotka-all --agents all``).
Not collected by pytest: a development tool, rerunnable by hand.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from typing import Any

import numpy as np

from reled_sumo.env.config import EnvConfig
from reled_sumo.env.make import load_scenario
from reled_sumo.env.policies import get_policy
from reled_sumo.env.routing_env import RoutingParallelEnv


def _feed(h: Any, x: Any) -> None:
    h.update(type(x).__name__.encode())
    if isinstance(x, dict):
        h.update(b"{%d" % len(x))
        for k, v in x.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(x, (list, tuple)):
        h.update(b"[%d" % len(x))
        for v in x:
            _feed(h, v)
    elif isinstance(x, np.ndarray):
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    elif isinstance(x, (float, np.floating)):
        h.update(float(x).hex().encode())
    elif isinstance(x, (bool, int, str, np.integer, np.bool_)) or x is None:
        h.update(repr(x).encode())
    else:
        raise TypeError(f"cannot hash {type(x)}")


def episode_hash(scenario: Any, n_agents: int, policy: str, seed: int = 0, **options: Any) -> tuple[str, int, float]:
    """(hash, steps, wall seconds) of one whole episode."""
    env = RoutingParallelEnv(scenario, EnvConfig.from_options(max_agents=n_agents, seed=seed, **options))
    pol = get_policy(policy, seed=seed) if policy == "random" else get_policy(policy)
    h = hashlib.sha256()
    w0 = time.perf_counter()
    try:
        obs, infos = env.reset(seed=seed)
        _feed(h, (obs, infos))
        steps = 0
        while env.agents:
            out = env.step(pol(obs, infos))
            _feed(h, out)
            obs, infos = out[0], out[4]
            steps += 1
        _feed(h, env.step({}))  # after the end: empty dicts
    finally:
        env.close()
    return h.hexdigest(), steps, time.perf_counter() - w0


def cases(scenario: str, all_scenario: str | None) -> list[tuple[str, int, str, dict[str, Any]]]:
    out: list[tuple[str, int, str, dict[str, Any]]] = []
    for n in (10, 100):
        for pol in ("shortest", "random"):
            out.append((scenario, n, pol, {}))
    # the horizon cut (truncation + final observations) and held-back decisions
    out.append((scenario, 100, "random", {"horizon": 600.0}))
    out.append((scenario, 100, "shortest", {"decision_delay_s": 5.0, "decision_lookahead": 2}))
    if all_scenario:
        for pol in ("shortest", "random"):
            out.append((all_scenario, 1000, pol, {}))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="kotka")
    p.add_argument("--all-scenario", default=None, help="a scenario with >= 1,000 agents (e.g. kotka-all)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    scen = {name: load_scenario(name) for name in {a.scenario, a.all_scenario} if name}
    for name, n, pol, opts in cases(a.scenario, a.all_scenario):
        digest, steps, wall = episode_hash(scen[name], n, pol, seed=a.seed, **opts)
        extra = ",".join(f"{k}={v}" for k, v in opts.items()) or "-"
        print(f"{name:10s} agents={n:<5d} policy={pol:9s} options={extra:40s} steps={steps:<6d} "
              f"sha256={digest}  ({wall:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
