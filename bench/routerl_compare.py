"""Wall and CPU time per simulated day: reled-sumo against RouteRL 2.0.0, alternating.

Run with the reled-sumo venv's python from the repository root (docs/performance.md, "Against
RouteRL 2.0.0")::

    python3 -m venv /work/rrl-venv && /work/rrl-venv/bin/pip install routerl==2.0.0
    python bench/routerl_compare.py --rrl-python /work/rrl-venv/bin/python --json out.json

Per network (RouteRL's own ``csomor``, ``ingolstadt``, ``cologne``):

1. *prepare*: ``bench/routerl_side.py`` (in RouteRL's venv) builds RouteRL's day with ``--agents``
   vehicles, all of them machine agents, and exports it as a SUMO route file;
   ``reled scenario import`` turns RouteRL's network and that demand into a reled scenario in
   which every vehicle is an agent (``--agents all``).
2. *rounds*: each round runs both tools in fresh processes, one after the other, the order
   swapped every round; each plays one untimed warm-up day and ``--days`` timed days. A RouteRL
   day is ``reset()`` plus its AEC loop (one route choice per agent, uniformly random); a reled
   day is ``reset()`` plus the ``RoutingParallelEnv`` loop with the ``--policy`` rule deciding at
   every junction of every agent until all agents are done.

Per round the median day of each tool gives a ratio reled / RouteRL (wall and CPU; CPU counts the
process and its live child processes, i.e. SUMO under TraCI). The summary is the median of the
rounds' ratios, beside every round's pair and ``os.getloadavg()`` before each run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from routerl_side import cpu_s  # noqa: E402  (stdlib only; the runner's RouteRL imports wait)

NETWORKS = ("csomor", "ingolstadt", "cologne")
DEFAULT_RRL_PYTHON = "/work/rrl-venv/bin/python"
INSTALL_HINT = "python3 -m venv /work/rrl-venv && /work/rrl-venv/bin/pip install routerl==2.0.0"


class CompareError(Exception):
    """A problem the script reports as one line."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="reled-sumo vs RouteRL 2.0.0: wall/CPU s per simulated day")
    p.add_argument("--rrl-python", default=os.environ.get("RRL_PYTHON", DEFAULT_RRL_PYTHON),
                   help="python of the venv with routerl==2.0.0 (env RRL_PYTHON)")
    p.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated RouteRL networks")
    p.add_argument("--agents", type=int, default=100, help="vehicles per day, all of them agents in both tools")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per network (>= 1; 3+ for a median)")
    p.add_argument("--days", type=int, default=3, help="timed days per tool and round (after one warm-up day)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--backend", default="libsumo", choices=("libsumo", "traci"), help="reled-sumo's SUMO backend")
    p.add_argument("--rrl-libsumo", action="store_true",
                   help="RouteRL's use_libsumo (its venv then needs libsumo, which needs traci>=1.28: not its pin)")
    p.add_argument("--policy", default="shortest", help="reled-sumo's rule at every junction (shortest, live, random)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="a further EnvConfig option of the reled env, e.g. live_estimate=snapshot (repeatable)")
    p.add_argument("--home", type=Path, default=Path("/tmp/reled-routerl-compare"),
                   help="RELED_HOME for the imported scenarios and the exported demand")
    p.add_argument("--json", type=Path, default=None, help="write the raw numbers here")
    p.add_argument("--reled-side", default=None, help=argparse.SUPPRESS)  # internal: play days of this scenario
    a = p.parse_args(argv)
    if a.agents < 1 or a.rounds < 1 or a.days < 1:
        p.error("--agents, --rounds and --days must be >= 1")
    try:
        a.env_options = env_options(a.env)
    except ValueError as e:
        p.error(str(e))
    a.networks = [n for n in a.networks.split(",") if n]
    if not a.networks:
        p.error("--networks is empty")
    return a


def env_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as EnvConfig options; a VALUE that parses as JSON is taken as such."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--env wants KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def check_rrl_python(path: str) -> Path:
    """The RouteRL venv's python, or a CompareError naming the path and how to make the venv."""
    p = Path(path)
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise CompareError(f"RouteRL venv not found: {p} is not an executable python; create it with: {INSTALL_HINT}")
    return p


def sumo_environ() -> dict[str, str]:
    """This process's environment with SUMO_HOME, PATH and PROJ_LIB of the eclipse-sumo wheel
    (RouteRL starts the ``sumo`` binary from PATH and needs SUMO_HOME)."""
    import sumo  # the eclipse-sumo wheel of this venv; only the RouteRL side needs its paths

    home = str(sumo.SUMO_HOME)
    env = dict(os.environ)
    env["SUMO_HOME"] = home
    env["PATH"] = f"{home}/bin{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PROJ_LIB", f"{home}/data/proj")
    return env


def _run_json(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 1800) -> dict[str, Any]:
    """Run ``cmd``; its last stdout line is a JSON object."""
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise CompareError(f"{Path(cmd[1]).name} failed (exit {r.returncode}): {tail}")
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def prepare(network: str, a: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """RouteRL's day exported and imported as reled scenario ``rrl-<network>``."""
    demand = a.home / f"{network}-{a.agents}.rou.xml"
    a.home.mkdir(parents=True, exist_ok=True)
    info = _run_json([str(a.rrl_python), str(HERE / "routerl_side.py"), "--network", network, "--agents",
                      str(a.agents), "--seed", str(a.seed), "--days", "0", "--export-demand", str(demand)], env, a.home)
    net = Path(_routerl_networks(a.rrl_python, env)) / network / f"{network}.net.xml"
    name = f"rrl-{network}-{a.agents}"
    cmd = [sys.executable, "-m", "reled_sumo.cli.app", "scenario", "import", "--net", str(net), "--routes",
           str(demand), "--name", name, "--agents", "all", "--depart-window", "0:3600", "--begin", "0",
           "--end", "5400", "--seed", str(a.seed), "--replace"]
    r = subprocess.run(cmd, env={**env, "RELED_HOME": str(a.home)}, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise CompareError(f"reled scenario import of {network} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    sha = hashlib.sha256(demand.read_bytes()).hexdigest()
    return {"scenario": name, "demand": str(demand), "demand_sha256": sha, "net": str(net),
            "import_cmd": " ".join(cmd[1:]), "import_summary": r.stdout.strip().splitlines()[:1], **info}


def _routerl_networks(rrl_python: Path, env: dict[str, str]) -> str:
    code = "import os, routerl; print(os.path.join(os.path.dirname(routerl.__file__), 'networks'))"
    r = subprocess.run([str(rrl_python), "-c", code], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise CompareError(f"{rrl_python} cannot import routerl; install it with: {INSTALL_HINT}")
    return r.stdout.strip().splitlines()[-1]


def reled_days(scenario: str, days: int, seed: int, backend: str, policy: str,
               options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One warm-up day and ``days`` timed days of the reled env (run in a fresh process)."""
    # reled_sumo is imported only in the reled side's own process
    from reled_sumo.env import make_env
    from reled_sumo.env.policies import get_policy

    w0 = time.perf_counter()
    env = make_env(scenario, backend=backend, seed=seed, **(options or {}))
    pol = get_policy(policy)
    out: dict[str, Any] = {"tool": "reled-sumo", "scenario": scenario, "backend": backend, "policy": policy,
                           "env_options": options or {},
                           "agents": len(env.possible_agents), "setup_wall_s": time.perf_counter() - w0}
    try:
        played = [_reled_day(env, pol, seed) for _ in range(days + 1)]
    finally:
        env.close()
    out["days"] = played[1:]
    return out


def _reled_day(env: Any, pol: Any, seed: int) -> dict[str, float]:
    c0, w0 = cpu_s(), time.perf_counter()
    obs, infos = env.reset(seed=seed)
    first = env.sim_time  # the env advances to the first decision inside reset()
    decisions = arrived = 0
    while env.agents:
        acts = pol(obs, infos)
        decisions += len(acts)
        obs, _, term, _, infos = env.step(acts)
        arrived += sum(1 for ag, done in term.items() if done and infos[ag].get("arrived"))
    wall, cpu = time.perf_counter() - w0, cpu_s() - c0
    return {"wall_s": wall, "cpu_s": cpu, "sim_s": env.sim_time, "first_decision_s": first,
            "decisions": decisions, "arrived": arrived}


def play(tool: str, network: str, scen: dict[str, Any], a: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """One tool's run of one round in a fresh process, with the load average before it."""
    if tool == "routerl":
        cmd = [str(a.rrl_python), str(HERE / "routerl_side.py"), "--network", network, "--agents", str(a.agents),
               "--seed", str(a.seed), "--days", str(a.days)] + (["--libsumo"] if a.rrl_libsumo else [])
    else:
        cmd = [sys.executable, str(HERE / "routerl_compare.py"), "--reled-side", scen["scenario"], "--days",
               str(a.days), "--seed", str(a.seed), "--backend", a.backend, "--policy", a.policy, "--home", str(a.home)]
        cmd += [f"--env={kv}" for kv in a.env]
    load = os.getloadavg()
    started = time.strftime("%H:%M:%S", time.gmtime())
    res = _run_json(cmd, {**env, "RELED_HOME": str(a.home)}, a.home)
    return {**res, "load_before": list(load), "started_utc": started}


def day_stats(run: dict[str, Any]) -> dict[str, float]:
    """Medians over a run's timed days."""
    days = run["days"]
    med = {k: statistics.median(d[k] for d in days) for k in ("wall_s", "cpu_s", "sim_s", "decisions")}
    med["decisions_per_s"] = med["decisions"] / med["wall_s"]
    med["sim_s_per_wall_s"] = med["sim_s"] / med["wall_s"]
    return med


def summarise(network: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-round pairs and their median ratios reled / RouteRL (wall, CPU, wall per simulated s)."""
    pairs: list[dict[str, Any]] = []
    for rd in rounds:
        r, q = day_stats(rd["reled"]), day_stats(rd["routerl"])
        pairs.append({"reled": r, "routerl": q, "wall_ratio": r["wall_s"] / q["wall_s"],
                      "cpu_ratio": r["cpu_s"] / q["cpu_s"],
                      "wall_per_sim_s_ratio": (r["wall_s"] / r["sim_s"]) / (q["wall_s"] / q["sim_s"]),
                      "load": [rd["reled"]["load_before"][0], rd["routerl"]["load_before"][0]]})
    return {"network": network, "pairs": pairs,
            **{f"median_{k}": statistics.median(p[k] for p in pairs)
               for k in ("wall_ratio", "cpu_ratio", "wall_per_sim_s_ratio")}}


def _pair_median(pairs: list[dict[str, Any]]) -> Any:
    """``med(tool, key)``: the median of one tool's per-round value over ``pairs``."""
    def med(tool: str, key: str) -> float:
        return float(statistics.median(x[tool][key] for x in pairs))
    return med


def format_table(summaries: list[dict[str, Any]]) -> str:
    """A markdown table: one row per network, the medians and every round's pair."""
    head = ("| network | reled wall / CPU s per day | RouteRL wall / CPU s per day | reled / RouteRL wall "
            "(rounds) | CPU ratio (rounds) | wall per sim-s ratio | simulated s reled / RouteRL | "
            "decisions/s reled / RouteRL | load (1 min) |")
    lines = [head, "|" + "---|" * 9]
    for s in summaries:
        p = s["pairs"]
        med = _pair_median(p)
        rounds_w = ", ".join(f"{x['wall_ratio']:.2f}" for x in p)
        rounds_c = ", ".join(f"{x['cpu_ratio']:.2f}" for x in p)
        loads = [v for x in p for v in x["load"]]
        lines.append(
            f"| {s['network']} | {med('reled', 'wall_s'):.2f} / {med('reled', 'cpu_s'):.2f} "
            f"| {med('routerl', 'wall_s'):.2f} / {med('routerl', 'cpu_s'):.2f} "
            f"| **{s['median_wall_ratio']:.2f}** ({rounds_w}) | {s['median_cpu_ratio']:.2f} ({rounds_c}) "
            f"| {s['median_wall_per_sim_s_ratio']:.2f} | {med('reled', 'sim_s'):.0f} / {med('routerl', 'sim_s'):.0f} "
            f"| {med('reled', 'decisions_per_s'):.0f} / {med('routerl', 'decisions_per_s'):.0f} "
            f"| {min(loads):.1f}–{max(loads):.1f} |")
    return "\n".join(lines)


def _git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "?"
    r = subprocess.run([git, "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([git, "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (r.stdout.strip() or "?") + ("+uncommitted changes" if dirty else "")


def compare(a: argparse.Namespace) -> dict[str, Any]:
    a.rrl_python = check_rrl_python(a.rrl_python)
    env = sumo_environ()
    result: dict[str, Any] = {"commit": _git_commit(), "cpus": os.cpu_count(), "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}, "networks": {}}
    summaries = []
    for network in a.networks:
        scen = prepare(network, a, env)
        rounds = []
        for i in range(a.rounds):
            order = ("routerl", "reled") if i % 2 == 0 else ("reled", "routerl")
            rd = {tool: play(tool, network, scen, a, env) for tool in order}
            rounds.append(rd)
            print(f"{network} round {i + 1}: " + ", ".join(
                f"{t} {day_stats(rd[t])['wall_s']:.2f} s wall (load {rd[t]['load_before'][0]:.1f})" for t in order),
                flush=True)
        s = summarise(network, rounds)
        summaries.append(s)
        result["networks"][network] = {"prepare": scen, "rounds": rounds, "summary": s}
    result["table"] = format_table(summaries)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        if a.json is not None and a.json.exists():
            raise CompareError(f"{a.json} exists; the script does not overwrite files it did not write")
        if a.reled_side is not None:
            os.environ["RELED_HOME"] = str(a.home)
            print(json.dumps(reled_days(a.reled_side, a.days, a.seed, a.backend, a.policy, a.env_options)))
            return 0
        result = compare(a)
    except (CompareError, OSError, subprocess.TimeoutExpired) as e:
        print(f"routerl_compare: {e}", file=sys.stderr)
        return 2
    print(result["table"])
    print(f"commit {result['commit']}, {result['cpus']} CPUs, load now {os.getloadavg()[0]:.2f}")
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
