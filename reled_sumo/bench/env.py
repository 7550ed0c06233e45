"""Throughput benchmark: the env driven by the ``shortest`` policy against raw SUMO.

:func:`bench_env` measures, in this process and one after the other:

* **raw**: libsumo with the same command line as the env (same seed, same extra
  arguments), just ``simulationStep`` for the same simulated span the env covered;
* **env**: :class:`~reled_sumo.env.RoutingParallelEnv` on the given backend, driven
  by the ``shortest`` policy until the episode ends (all agents done or the horizon).

Times exclude SUMO's start-up (``reset`` for the env, ``start`` for raw). With
``repeats > 1`` the fastest run is kept; later runs find the static observation data of the
(destination, edge) pairs the first run met already built (envs of one scenario share the
:class:`~reled_sumo.env.observation.ObservationBuilder`), as any later episode in one
process does.

Agent counts: ``n <= len(scenario.agents)`` uses ``max_agents=n`` (the remaining agent
vehicles drive as uncontrolled traffic). For larger ``n`` a derived copy of the
scenario is written to a temporary folder: the extra agents take the origin and
destination of background vehicles (which are removed from the background, so the
total demand is unchanged) and depart every 10 s after the last original agent, like
the scenario builder's agents.
"""
from __future__ import annotations

import gzip
import json
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from reled_sumo.scenario.manifest import ScenarioLike
from reled_sumo.env.config import EnvConfig
from reled_sumo.env.make import load_scenario
from reled_sumo.env.policies import get_policy
from reled_sumo.env.routing_env import RoutingParallelEnv
from reled_sumo.env.tables import scenario_graph
from reled_sumo.errors import ConfigError
from reled_sumo.scenario.manifest import Scenario, file_entry, load_scenario_dir, write_manifest
from reled_sumo.sim.session import SumoSession


def _open_xml(path: Path) -> ET.ElementTree[ET.Element]:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            return ET.parse(fh)
    return ET.parse(path)


def derive_scenario(scenario: Scenario, n_agents: int, out_dir: str | Path, spacing_s: float = 10.0) -> Scenario:
    """Copy ``scenario`` to ``out_dir`` with ``n_agents`` agents (see module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = list(scenario.agents)
    if n_agents <= len(base):
        raise ConfigError("derive_scenario is for more agents than the scenario has")
    bg_tree = _open_xml(scenario.background_file)
    extra = _take_background_trips(scenario, bg_tree.getroot(), n_agents - len(base))
    last = max((a.depart for a in base), default=-spacing_s)
    agents = [{"id": a.id, "origin": a.origin, "destination": a.destination, "depart": a.depart} for a in base]
    for k, (o, d) in enumerate(extra):
        agents.append({"id": f"agent_{len(base) + k}", "origin": o, "destination": d,
                       "depart": float(last + spacing_s * (k + 1))})
    _write_agent_trips(scenario, agents, out / "agents.rou.xml")
    bg_tree.write(out / "background.rou.xml", encoding="UTF-8", xml_declaration=True)
    net_name = scenario.net_file.name
    shutil.copy(scenario.net_file, out / net_name)
    (out / "scenario.sumocfg").write_text(
        "<configuration>\n"
        f'  <input><net-file value="{net_name}"/>'
        '<route-files value="background.rou.xml,agents.rou.xml"/></input>\n'
        f'  <time><begin value="0"/><end value="{scenario.duration:g}"/></time>\n'
        "</configuration>\n"
    )
    manifest = json.loads(json.dumps(scenario.manifest))
    manifest["name"] = f"{scenario.name}-{n_agents}agents"
    manifest["agents"] = agents
    manifest.setdefault("options", {})["agents"] = n_agents
    manifest["files"] = {
        "net": file_entry(out / net_name),
        "agents": file_entry(out / "agents.rou.xml"),
        "background": file_entry(out / "background.rou.xml"),
        "sumocfg": file_entry(out / "scenario.sumocfg"),
    }
    write_manifest(out, manifest)
    return load_scenario_dir(out)


def _take_background_trips(scenario: Scenario, bg_root: ET.Element, n: int) -> list[tuple[str, str]]:
    """(origin, destination) of the first ``n`` background vehicles usable as agents (a route of
    >= 4 car edges whose destination is reachable); they are removed from ``bg_root``."""
    g = scenario_graph(scenario)
    extra: list[tuple[str, str]] = []
    used_vehicles = []
    for veh in bg_root.findall("vehicle"):
        route = veh.find("route")
        if route is None:
            continue
        edges = route.get("edges", "").split()
        if len(edges) < 4 or edges[0] not in g.index or edges[-1] not in g.index or edges[0] == edges[-1]:
            continue
        if not np.isfinite(g.cost_to(g.index[edges[-1]])[g.index[edges[0]]]):
            continue
        extra.append((edges[0], edges[-1]))
        used_vehicles.append(veh)
        if len(extra) >= n:
            break
    if len(extra) < n:
        raise ConfigError(f"scenario {scenario.name} has too few background trips to derive "
                          f"{len(scenario.agents) + n} agents")
    for veh in used_vehicles:
        bg_root.remove(veh)
    return extra


def _write_agent_trips(scenario: Scenario, agents: list[dict[str, Any]], path: Path) -> None:
    """The agents' trips, with the same vType and trip attributes as the scenario's own."""
    src = _open_xml(scenario.agents_file).getroot()
    vtype = src.find("vType")
    proto = src.find("trip")
    root = ET.Element("routes")
    if vtype is not None:
        root.append(vtype)
    for a in agents:
        attrs = dict(proto.attrib) if proto is not None else {}
        attrs.update({"id": a["id"], "depart": f"{a['depart']:.2f}", "from": a["origin"], "to": a["destination"]})
        ET.SubElement(root, "trip", attrs)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _run_env(scenario, cfg: EnvConfig, seed: int) -> dict[str, Any]:
    env = RoutingParallelEnv(scenario, cfg)
    pol = get_policy("shortest")
    try:
        obs, infos = env.reset(seed=seed)
        t0_sim = env.sim_time
        decisions = 0
        arrived = 0
        sess = env.session
        assert sess is not None
        s0, c0, w0 = sess.step_seconds, time.process_time(), time.perf_counter()
        while env.agents:
            acts = pol(obs, infos)
            decisions += len(acts)
            obs, _, term, _, infos = env.step(acts)
            arrived += sum(1 for a, done in term.items() if done and infos[a].get("arrived"))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        sumo_wall = sess.step_seconds - s0
        sim_span = env.sim_time - t0_sim
        steps = int(round(sim_span / cfg.step_length))
        session_cfg = env._session_config(seed)  # noqa: SLF001 - same command line for raw
    finally:
        env.close()
    return {"wall": wall, "cpu": cpu, "sumo_wall": sumo_wall, "sim_span": sim_span, "steps": steps, "decisions": decisions,
            "arrived": arrived, "t0": t0_sim, "session_cfg": session_cfg, "controlled": len(env.possible_agents)}


def _run_raw(scenario, session_cfg, t0: float, steps: int) -> tuple[float, float]:
    cfg = replace(session_cfg, backend="libsumo", gui=False, label=session_cfg.label + "-raw")
    with SumoSession(scenario.sumocfg, cfg, events=False) as sim:
        # the span before the env's first decision is not timed
        sim.run_steps(int(round((t0 - sim.time) / cfg.step_length)))
        c0, w0 = time.process_time(), time.perf_counter()
        sim.run_steps(steps)
        return time.perf_counter() - w0, time.process_time() - c0


def bench_env(
    scenario: ScenarioLike,
    agents_list: Sequence[int] = (30,),
    backends: Sequence[str] = ("libsumo",),
    horizon: float | None = None,
    seed: int = 0,
    repeats: int = 1,
    **env_options: Any,
) -> list[dict[str, Any]]:
    """One row per (agents, backend): raw vs env throughput (see module docstring).

    Row keys: agents, controlled_agents (the env's possible agents), backend, sim_s (simulated
    span), raw_wall_s / env_wall_s, raw_sim_s_per_wall_s, env_sim_s_per_wall_s,
    ratio_env_to_raw, decisions, decisions_per_s, us_per_decision (env wall time /
    decisions), overhead_us_per_decision ((env wall - raw wall) / decisions: the env's own
    cost per decision), arrival_rate, and cpu_ratio_env_to_raw: the same ratio on this
    process's CPU time (libsumo rows only: with TraCI, SUMO's CPU is another process's),
    less sensitive to other jobs on a shared machine than the wall-clock ratio. With ``repeats > 1`` the
    fastest run of each is kept (raw and env runs alternate). ``env_options`` are
    further :class:`EnvConfig` fields (e.g. ``decision_delay_s``).
    """
    scen = load_scenario(scenario)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for n in agents_list:
            if n < 1:
                raise ConfigError(f"agent counts must be >= 1, got {n}")
            if n <= len(scen.agents):
                sc, max_agents = scen, n
            else:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="reled-bench-"))
                sc, max_agents = derive_scenario(scen, n, tmp), n
            for backend in backends:
                cfg = EnvConfig.from_options(
                    **{"backend": backend, "horizon": horizon, "max_agents": max_agents, "seed": seed, **env_options}
                )
                env_runs, raw_runs = [], []
                for _ in range(max(1, repeats)):
                    r = _run_env(sc, cfg, seed)
                    env_runs.append(r)
                    raw_runs.append(_run_raw(sc, r["session_cfg"], r["t0"], r["steps"]))
                rows.append({**env_options, **_row(n, backend, env_runs, raw_runs)})
    return rows


def _row(n: int, backend: str, env_runs: list[dict[str, Any]], raw_runs: list[tuple[float, float]]) -> dict[str, Any]:
    """One bench row from the repeats of one (agents, backend): the fastest env and raw runs."""
    r = min(env_runs, key=lambda x: x["wall"])
    raw_wall = min(w for w, _ in raw_runs)
    cpu_ratio = min(c for _, c in raw_runs) / max(min(x["cpu"] for x in env_runs), 1e-9)
    raw_rate = r["sim_span"] / raw_wall if raw_wall > 0 else float("inf")
    env_rate = r["sim_span"] / r["wall"] if r["wall"] > 0 else float("inf")
    dec = max(r["decisions"], 1)
    return {
        "agents": n,
        "controlled_agents": r["controlled"],
        "backend": backend,
        "sim_s": r["sim_span"],
        "raw_wall_s": raw_wall,
        "env_wall_s": r["wall"],
        "raw_sim_s_per_wall_s": raw_rate,
        "env_sim_s_per_wall_s": env_rate,
        "ratio_env_to_raw": env_rate / raw_rate,
        "decisions": r["decisions"],
        "decisions_per_s": r["decisions"] / r["wall"],
        "us_per_decision": r["wall"] / dec * 1e6,
        "overhead_us_per_decision": (r["wall"] - raw_wall) / dec * 1e6,
        "arrival_rate": r["arrived"] / n,
        "cpu_ratio_env_to_raw": cpu_ratio if backend == "libsumo" else None,
        # the gap split in two: SUMO's own steps inside the env against the raw run (libsumo: SUMO runs
        # slower when Python work runs between its steps), and the env's share of its wall time outside them
        "sumo_in_env_to_raw": r["sumo_wall"] / raw_wall if raw_wall > 0 else float("nan"),
        "env_outside_sumo_share": 1.0 - r["sumo_wall"] / r["wall"] if r["wall"] > 0 else float("nan"),
    }


def format_rows(rows: list[dict[str, Any]]) -> str:
    cols = ["agents", "backend", "sim_s", "raw_sim_s_per_wall_s", "env_sim_s_per_wall_s", "ratio_env_to_raw",
            "decisions", "decisions_per_s", "us_per_decision", "overhead_us_per_decision", "arrival_rate"]
    lines = ["  ".join(cols)]
    for r in rows:
        lines.append("  ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    return "\n".join(lines)


if __name__ == "__main__":  # python -m reled_sumo.bench.env SCENARIO [N ...]
    import sys

    args = sys.argv[1:]
    if not args:
        raise SystemExit("usage: python -m reled_sumo.bench.env SCENARIO [AGENTS ...] [--traci]")
    backends = ("libsumo", "traci") if "--traci" in args else ("libsumo",)
    nums = [int(a) for a in args[1:] if a.isdigit()] or [30]
    print(format_rows(bench_env(args[0], nums, backends, repeats=3)))
