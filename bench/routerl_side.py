"""The RouteRL 2.0.0 side of ``bench/routerl_compare.py``; runs in RouteRL's own venv.

It never imports reled_sumo (RouteRL pins traci 1.21). It uses RouteRL's documented API only:
``TrafficEnvironment`` with ``num_agents`` vehicles, ``mutation()`` turning every one of them into
a machine agent, ``start()``, then per day ``reset()`` and the PettingZoo AEC loop
(``agent_iter`` / ``last`` / ``step``) with a uniformly random route per agent (a stand-in for a
policy that costs nothing). One day = ``reset()`` + that loop; RouteRL ends the day when its
``simulation_timesteps`` are over and every vehicle has arrived, and reloads SUMO for the next day
inside the last ``step``.

Prints one JSON object on stdout: per timed day wall s, CPU s (this process plus its live child
processes, i.e. the ``sumo`` server that TraCI talks to), simulated s, decisions. With
``--export-demand FILE`` it writes the day's vehicles (each on the first of its OD's routes) as a
SUMO route file, for ``reled scenario import``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """utime + stime of this process's live child processes (the ``sumo`` server under TraCI)."""
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return total


def cpu_s() -> float:
    return time.process_time() + _children_cpu_s()


def make_env(network: str, agents: int, seed: int, records: Path, libsumo: bool) -> Any:
    from routerl import TrafficEnvironment

    env = TrafficEnvironment(
        seed=seed,
        agent_parameters={"num_agents": agents, "new_machines_after_mutation": agents},
        environment_parameters={"number_of_days": 1, "save_every": 1},
        simulator_parameters={"network_name": network, "use_libsumo": libsumo},
        path_generation_parameters={"number_of_paths": 3, "visualize_paths": False},
        plotter_parameters={"records_folder": str(records / "records"), "plots_folder": str(records / "plots")},
    )
    env.mutation(disable_human_learning=True, mutation_start_percentile=-1)
    return env


def play_day(env: Any) -> dict[str, float]:
    """One simulated day: ``reset()`` and the AEC loop until every agent is done."""
    k0, c0, w0 = _children_cpu_s(), cpu_s(), time.perf_counter()
    env.reset()
    decisions = 0
    for agent in env.agent_iter():
        _, _, term, trunc, _ = env.last()
        action = None if term or trunc else int(env.action_space(agent).sample())
        decisions += action is not None
        env.step(action)
    wall, cpu, child = time.perf_counter() - w0, cpu_s() - c0, _children_cpu_s() - k0
    arrivals = [r["start_time"] + 60.0 * r["travel_time"] for r in env.last_episode_travel_times]
    horizon = float(env.simulation_params["simulation_timesteps"])
    return {"wall_s": wall, "cpu_s": cpu, "child_cpu_s": child, "sim_s": max([horizon, *arrivals]),
            "decisions": decisions, "vehicles": len(arrivals),
            "teleports": bool(env.last_episode_had_teleports)}


def export_demand(env: Any, path: Path) -> int:
    """The day's vehicles as ``<vehicle>``s on the first route of their OD (a SUMO route file)."""
    import pandas as pd

    routes = pd.read_csv(env.simulator.paths_csv_file_path)
    first: dict[tuple[int, int], str] = {}
    for r in routes.itertuples():
        first.setdefault((int(r.origins), int(r.destinations)), str(r.path))
    root = ET.Element("routes")
    ET.SubElement(root, "vType", {"id": "AV"})
    for agent in sorted(env.all_agents, key=lambda a: (a.start_time, a.id)):
        veh = ET.SubElement(root, "vehicle", {"id": f"rrl{agent.id}", "type": "AV", "depart": f"{agent.start_time:.2f}"})
        ET.SubElement(veh, "route", {"edges": first[(int(agent.origin), int(agent.destination))]})
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
    return len(env.all_agents)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", required=True)
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--days", type=int, default=1, help="timed days after one untimed warm-up day")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--libsumo", action="store_true", help="RouteRL's use_libsumo (needs libsumo in this venv)")
    p.add_argument("--export-demand", type=Path, default=None)
    a = p.parse_args(argv)
    import routerl

    with tempfile.TemporaryDirectory(prefix="rrl-side-") as tmp:
        w0 = time.perf_counter()
        env = make_env(a.network, a.agents, a.seed, Path(tmp), a.libsumo)
        out: dict[str, Any] = {"tool": "routerl", "version": getattr(routerl, "__version__", "?"),
                               "network": a.network, "agents": a.agents,
                               "machine_agents": len(env.machine_agents), "human_agents": len(env.human_agents)}
        if a.export_demand is not None:
            out["exported_vehicles"] = export_demand(env, a.export_demand)
        env.start()
        out["setup_wall_s"] = time.perf_counter() - w0
        try:
            if a.days > 0:
                play_day(env)  # warm-up, untimed
            out["days"] = [play_day(env) for _ in range(a.days)]
        finally:
            env.stop_simulation()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
