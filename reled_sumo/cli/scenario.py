"""`reled scenario ...`: build, list and inspect scenarios."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from reled_sumo.cli.common import console, guarded, show_table, terminate_as_interrupt
from reled_sumo.errors import UserInputError

app = typer.Typer(help="Build real-city SUMO scenarios from OpenStreetMap, or import a SUMO scenario.",
                  no_args_is_help=True)


@app.command("build")
@guarded
def build_cmd(
    city: Optional[str] = typer.Argument(None, help="Bundled city (see `reled scenario list`) or a place name."),
    osm: Optional[Path] = typer.Option(None, "--osm", help="Local OSM file: .osm, .osm.gz, .osm.bz2, .osm.pbf"),
    name: Optional[str] = typer.Option(None, "--name", help="Scenario name (required with --osm or a place; "
                                       "for a bundled city it defaults to the city's name)."),
    agents: Optional[str] = typer.Option(None, "--agents", help="Number of agent vehicles, or 'all': every "
                                         "vehicle is an agent (the background vehicles too)."),
    background: Optional[int] = typer.Option(None, "--background-vehicles", help="Background vehicles "
                                             "(with --agents all: vehicles that become agents too)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Demand duration in seconds."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for demand."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a cached build matches."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing scenario of this name that was "
                                 "built from other inputs (runs trained on it can then no longer resume)."),
) -> None:
    """Build a scenario folder: SUMO network, demand, .sumocfg and manifest."""
    from reled_sumo.scenario.build import build  # lazy: scipy
    from reled_sumo.scenario.registry import DemandDefaults, get_recipe, looks_like_place  # lazy: startup

    req = _request(city, osm, name, agents, background, duration, seed, get_recipe, looks_like_place, DemandDefaults)
    with terminate_as_interrupt(), console.status("building scenario...") as status:
        result = build(req, force=force, progress=lambda m: status.update(m), replace=replace)
    sc = result.scenario
    how = "cache hit (unchanged inputs; use --force to rebuild)" if result.cache_hit else "built"
    console.print(f"[green]{how}[/green] scenario [bold]{sc.name}[/bold] in {result.seconds:.2f} s at {sc.path}")
    show_table(summary_table(sc))


@app.command("import")
@guarded
def import_cmd(
    sumocfg: Optional[Path] = typer.Option(None, "--sumocfg", help="A SUMO config (net, routes, additional files)."),
    net: Optional[Path] = typer.Option(None, "--net", help="A SUMO network (.net.xml[.gz]) with --routes."),
    routes: Optional[str] = typer.Option(None, "--routes", help="Comma-separated route files (.rou.xml[.gz])."),
    additional: Optional[str] = typer.Option(None, "--additional", help="Comma-separated additional files."),
    name: str = typer.Option(..., "--name", help="Scenario name."),
    agents: Optional[str] = typer.Option(None, "--agents", help="Number of agents among the passenger vehicles, "
                                         "or 'all' (= --agent-share 1.0)."),
    agent_share: Optional[float] = typer.Option(None, "--agent-share", help="Agents as a share of the passenger "
                                                "vehicles departing in the window that can be agents (1.0: all)."),
    window: Optional[str] = typer.Option(None, "--depart-window", help="A:B seconds (default: first half)."),
    begin: Optional[float] = typer.Option(None, "--begin", help="Begin time (default: the config's)."),
    end: Optional[float] = typer.Option(None, "--end", help="End time (default: the config's)."),
    seed: int = typer.Option(42, "--seed", help="Seed for duarouter (flows, vType distributions) and SUMO."),
    licence: Optional[str] = typer.Option(None, "--licence", help="Licence of the scenario, kept in the manifest."),
    force: bool = typer.Option(False, "--force", help="Re-import even if a cached import matches."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing scenario of this name that was "
                                 "made from other inputs (runs trained on it can then no longer resume)."),
) -> None:
    """Import an existing SUMO scenario: agents are chosen among its own passenger vehicles."""
    from reled_sumo.scenario.demand import parse_agents  # lazy: scipy
    from reled_sumo.scenario.importer import DEFAULT_LICENCE, ImportRequest, import_scenario  # lazy: scipy

    count, every = parse_agents(agents)
    if every and agent_share is not None:
        raise UserInputError("give exactly one of --agents N|all or --agent-share F")
    n_agents, agent_share = (None, 1.0) if every else (count, agent_share)
    req = ImportRequest(
        name=name.lower(), sumocfg=sumocfg, net=net, routes=_paths(routes), additional=_paths(additional),
        agents=n_agents, agent_share=agent_share, depart_window=_window(window), begin=begin, end=end, seed=seed,
        licence=licence or DEFAULT_LICENCE)
    with terminate_as_interrupt(), console.status("importing scenario...") as status:
        result = import_scenario(req, force=force, progress=lambda m: status.update(m), replace=replace)
    sc = result.scenario
    how = "cache hit (unchanged inputs; use --force to re-import)" if result.cache_hit else "imported"
    console.print(f"[green]{how}[/green] scenario [bold]{sc.name}[/bold] in {result.seconds:.2f} s at {sc.path}")
    show_table(summary_table(sc))


def _paths(text: Optional[str]) -> tuple[Path, ...]:
    return tuple(Path(p.strip()) for p in text.split(",") if p.strip()) if text else ()


def _window(text: Optional[str]) -> Optional[tuple[float, float]]:
    if text is None:
        return None
    try:
        a, b = (float(x) for x in text.split(":"))
    except ValueError:
        raise UserInputError(f"--depart-window must be A:B in seconds, got {text!r}") from None
    return (a, b)


def _request(city, osm, name, agents, background, duration, seed, get_recipe, looks_like_place, defaults):
    from reled_sumo.scenario.build import BuildRequest, demand_options  # lazy: scipy

    overrides = dict(agents=agents, background_vehicles=background, duration=duration, seed=seed)
    if osm is not None or (city and looks_like_place(city)):
        if not name:
            raise UserInputError("give the scenario a name with --name when building from --osm or a place name")
        kind, source = ("file", str(osm)) if osm is not None else ("place", city)
        return BuildRequest(name=name.strip().lower(), kind=kind, source=source,
                            demand=demand_options(dict(defaults().__dict__), **overrides))
    if not city:
        raise UserInputError("name a bundled city (reled scenario list), a place name, or use --osm FILE --name NAME")
    return BuildRequest.bundled(get_recipe(city), name=name.strip().lower() if name is not None else None,
                                 **overrides)


def summary_table(sc) -> Table:
    """The scenario's summary; a manifest without the summary fields is a one-line ScenarioError."""
    from reled_sumo.errors import ScenarioError  # lazy: only for a malformed manifest

    try:
        return _summary_table(sc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"{sc.path / 'scenario.json'} lacks a field of the summary ({type(exc).__name__}: "
                            f"{exc}); rebuild the scenario") from None


def _summary_table(sc) -> Table:
    m = sc.manifest
    c, o = m["counts"], m["options"]
    t = Table(title=f"{sc.name}  ({m['source']['kind']}: {m['source']['file']})", show_header=False)
    rows = [
        ("nodes / junctions / signals", f"{c['nodes']} / {c['junctions']} / {c['signals']}"),
        ("car edges", str(c["edges"])),
        ("lane-km", f"{c['lane_km']:.1f}"),
        ("pruned for strong connectivity", str(c["pruned_for_connectivity"])),
        ("agents (rejected candidates)", f"{c['agents']} ({c['agent_candidates_rejected']} of {c['agent_candidates_drawn']})"
         + (f", {c['agents_from_background']} of them background vehicles" if c.get("agents_from_background") else "")),
        *_import_rows(c),
        ("background vehicles (dropped)", f"{c['background_vehicles']} ({c['background_rejected']})"),
        ("duration / seed", f"{o['duration']:g} s / {o['seed']}"),
        ("SUMO", m["tools"]["sumo"]),
        ("licence", m["source"]["licence"]),
        ("scenario hash", sc.scenario_hash),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def _import_rows(c: dict) -> list[tuple[str, str]]:
    if "flow_vehicles" not in c:
        return []
    skipped = ", ".join(f"{k} {v}" for k, v in c["agent_candidates_skipped"].items()) or "none"
    return [("vehicles (from flows)", f"{c['vehicles']} ({c['flow_vehicles']})"),
            ("agent candidates skipped", skipped),
            ("car edges outside largest SCC", str(c["edges_outside_largest_scc"]))]


@app.command("list")
@guarded
def list_cmd() -> None:
    """List bundled cities and built scenarios."""
    from reled_sumo.scenario.registry import bundled, reled_home  # lazy: startup

    t = Table(title="Bundled cities")
    for col in ("name", "city", "source", "licence"):
        t.add_column(col)
    for r in bundled().values():
        t.add_row(r.name, r.display_name, f"{r.package}:{r.resource}", r.licence)
    show_table(t)
    root = reled_home() / "scenarios"
    built = sorted(p.name for p in root.glob("*") if (p / "scenario.json").exists()) if root.exists() else []
    console.print(f"Built scenarios in {root}: {', '.join(built) if built else '(none)'}")


@app.command("info")
@guarded
def info_cmd(name: str = typer.Argument(..., help="Scenario name or folder.")) -> None:
    """Show the summary table of a built scenario."""
    from reled_sumo.scenario import resolve_scenario  # lazy: startup

    show_table(summary_table(resolve_scenario(name)))
