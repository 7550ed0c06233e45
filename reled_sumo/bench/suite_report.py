"""Report of a learning suite (``reled bench learn``): tables, steps-to-threshold, plots.

Rebuilt from the suite's result files and the runs' ``progress.csv`` (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats as st

from reled_sumo.bench import claims as C
from reled_sumo.bench.suite import RESULTS, SuiteOutcome, SuiteSpec, gen_targets, plan, run_dir, run_suite
from reled_sumo.evaluation.report import markdown_table, read_progress, save_figure
from reled_sumo.metrics.results import EvalResult, rolling_mean
from reled_sumo.metrics.stats import mean_ci
from reled_sumo.bench.suite_paired import paired_section
from reled_sumo.safe_write import check_output, write_output

log = logging.getLogger(__name__)


METRICS = ("mean_travel_time", "censored_travel_time", "arrival_rate", "mean_return")
COL_X, COL_WALL, COL_Y = "time/env_decisions", "time/elapsed_s", "rollout/mean_travel_time"


@dataclass(frozen=True)
class Sample:
    """One value per training run (its mean over the eval seeds) or, for references, per eval seed."""

    kind: str
    city: str
    agents: int
    method: str
    seed: int | None
    target: str | None
    values: Mapping[str, float]


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def record_samples(rec: Mapping[str, Any]) -> list[Sample]:
    t, ev = rec["task"], EvalResult.from_dict(rec["eval"])
    base = (t["kind"], t["city"], int(t["agents"]), t["method"])
    if t["kind"] == "ref":
        return [Sample(*base, s.seed, None, {m: float(getattr(s, m)) for m in METRICS}) for s in ev.per_seed]
    train = rec.get("train") or {}
    values = {m: _nanmean(ev.values(m)) for m in METRICS}
    values.update(train_wall_s=float(train.get("wall_seconds", np.nan)),
                  decisions_per_s=float(train.get("decisions_per_s", np.nan)))
    return [Sample(*base, t["seed"], t.get("target"), values)]


def load_samples(out: Path) -> list[Sample]:
    files = sorted((Path(out) / RESULTS).rglob("*.json"))
    return [s for p in files for s in record_samples(json.loads(p.read_text()))]


def aggregate(samples: Sequence[Sample], metric: str, keys: Sequence[str] = ("city", "agents", "method"),
              kinds: Sequence[str] = ("train", "ref"), confidence: float = 0.95) -> dict[tuple, Any]:
    """Group samples by ``keys`` -> :func:`mean_ci` of ``metric`` (NaN samples dropped by mean_ci)."""

    groups: dict[tuple, list[float]] = {}
    for s in samples:
        if s.kind in kinds:
            groups.setdefault(tuple(getattr(s, k) for k in keys), []).append(s.values.get(metric, np.nan))
    return {k: mean_ci(v, confidence) for k, v in groups.items()}


def steps_to_threshold(x: Sequence[float], y: Sequence[float], threshold: float, window: int) -> float:
    """First ``x`` (env decisions) at which the rolling mean of ``y`` is <= ``threshold``; NaN if never."""
    hit = np.nonzero(rolling_mean(y, window) <= threshold)[0]
    return float(np.asarray(x, dtype=np.float64)[hit[0]]) if hit.size else float("nan")


def final_level(y: Sequence[float] | np.ndarray, window: int) -> float:
    """Mean of the last ``window`` finite values (fewer if the run logged fewer)."""
    a = np.asarray(y, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a[-window:].mean()) if a.size else float("nan")


def load_curves(spec: SuiteSpec, out: Path) -> dict[tuple, dict[str, np.ndarray]]:
    curves = {}
    for t in plan(spec):
        p = run_dir(out, t.city, t.agents, t.method, t.seed or 0) / "progress.csv"
        if t.kind == "train" and p.is_file() and (lg := read_progress(p)) and COL_Y in lg and COL_X in lg:
            curves[(t.city, t.agents, t.method, t.seed)] = lg
    return curves


def thresholds(spec: SuiteSpec, curves: Mapping[tuple, Mapping[str, np.ndarray]]) -> dict[tuple, float]:
    """(city, agents) -> mean over the threshold method's seeds of its final rolling-mean travel time."""
    levels: dict[tuple, list[float]] = {}
    for (city, n, method, _), lg in curves.items():
        if method == spec.threshold_method:
            levels.setdefault((city, n), []).append(final_level(lg[COL_Y], spec.threshold_window))
    return {k: _nanmean(v) for k, v in levels.items()}


def steps_table(spec: SuiteSpec, curves) -> dict[tuple, list[float]]:
    """(city, agents, method) -> steps to threshold of each seed (NaN: not reached)."""
    th_ = thresholds(spec, curves)
    out: dict[tuple, list[float]] = {}
    for (city, n, method, _), lg in curves.items():
        thr = th_.get((city, n), np.nan)
        out.setdefault((city, n, method), []).append(
            steps_to_threshold(lg[COL_X], lg[COL_Y], thr, spec.threshold_window) if np.isfinite(thr) else np.nan)
    return out


def _main_rows(spec: SuiteSpec, samples, steps, city: str, n: int) -> list[tuple[str, ...]]:
    c = spec.confidence
    agg = {m: aggregate(samples, m, confidence=c) for m in (*METRICS, "train_wall_s", "decisions_per_s")}
    rows = []
    for name in [m.name for m in spec.methods] + list(spec.references):
        key = (city, n, name)
        if key not in agg["mean_travel_time"]:
            continue
        st = steps.get(key, [])
        reached = [v for v in st if np.isfinite(v)]
        cells = [agg["mean_travel_time"][key].format(1), agg["censored_travel_time"][key].format(1),
                 agg["arrival_rate"][key].format(3),
                 agg["mean_return"][key].format(3), str(agg["mean_travel_time"][key].n)]
        if name in spec.references:
            cells += ["", "", "", ""]
        else:
            cells += [mean_ci(reached, c).format(0) if st else "", f"{len(reached)}/{len(st)}" if st else "",
                      agg["train_wall_s"][key].format(0, ci=False), agg["decisions_per_s"][key].format(0, ci=False)]
        rows.append((name, *cells))
    return rows


def _gen_rows(spec: SuiteSpec, samples) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    g, c = spec.generalization, spec.confidence
    targets = gen_targets(spec)
    tt = aggregate(samples, "mean_travel_time", ("city", "agents", "method", "target"), ("gen",), c)
    ar = aggregate(samples, "arrival_rate", ("city", "agents", "method", "target"), ("gen",), c)
    own_tt, own_ar = (aggregate(samples, m, confidence=c) for m in ("mean_travel_time", "arrival_rate"))

    def cell(e, a) -> str:
        return "" if e is None else f"{e.format(1)} ({a.mean:.2f})"

    assert g is not None  # only called for a suite with a generalization block
    rows = []
    for m in g.methods:
        own = (g.train_city, g.agents, m)
        rows.append((m, cell(own_tt.get(own), own_ar.get(own)),
                     *(cell(tt.get((*own, t)), ar.get((*own, t))) for t in targets)))
    for r in g.references:
        keys = [(x, g.agents, r) for x in (g.train_city, *targets)]
        rows.append((r, *(cell(own_tt.get(k), own_ar.get(k)) for k in keys)))
    return ("method", f"{g.train_city} (trained on)", *targets), rows


def _pyplot():
    import matplotlib  # lazy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    return plt


def band(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], grid: np.ndarray,
         confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t CI across runs of curves ``(x_r, y_r)`` on a shared ``grid``: each run
    is interpolated linearly inside its own x range (NaN outside, and where its y is NaN)."""

    rows = []
    for x, y in zip(xs, ys):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        r = np.full(grid.shape, np.nan)
        if ok.sum() >= 2:
            inside = (grid >= x[ok].min()) & (grid <= x[ok].max())
            r[inside] = np.interp(grid[inside], x[ok], y[ok])
        elif ok.sum() == 1:
            r[np.isclose(grid, x[ok][0])] = y[ok][0]
        rows.append(r)
    a = np.vstack(rows) if rows else np.full((1, grid.size), np.nan)
    n = np.isfinite(a).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)
        sd = np.sqrt(np.where(n > 1, np.nansum((a - mean) ** 2, axis=0) / np.maximum(n - 1, 1), np.nan))
        half = np.where(n > 1, st.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1)),
                        0.0)
    return mean, mean - half, mean + half


def plot_curves(spec: SuiteSpec, curves, city: str, n: int, path: Path,
                references: Mapping[str, float] | None = None) -> Path | None:
    """Rolling-mean rollout travel time per method: mean ± CI across seeds on a shared x grid
    (the first updates averaged over the rows so far, so a run with fewer updates than the
    window still shows), each run's points as dots, the references (greedy, same horizon) as
    horizontal lines."""
    runs = {k: v for k, v in curves.items() if k[:2] == (city, n)}
    if not runs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    thr = thresholds(spec, curves).get((city, n), np.nan)
    for ax, col, label in ((axes[0, 0], COL_X, "env decisions"), (axes[0, 1], COL_WALL, "wall-clock (s)")):
        for i, m in enumerate(dict.fromkeys(k[2] for k in runs)):
            logs = [v for k, v in runs.items() if k[2] == m and col in v]
            xs = [np.asarray(lg[col], dtype=np.float64) for lg in logs]
            ys = [rolling_mean(lg[COL_Y], spec.threshold_window, min_periods=1) for lg in logs]
            top = max((float(np.nanmax(x)) for x in xs if x.size), default=0.0)
            if top <= 0:
                continue
            grid = np.linspace(0.0, top, 60)
            mean, lo, hi = band(xs, ys, grid, spec.confidence)
            ax.plot(grid, mean, color=f"C{i}", lw=1.5, label=f"{m} (n={len(logs)})")
            ax.fill_between(grid, lo, hi, color=f"C{i}", alpha=0.2, lw=0)
            for x, y in zip(xs, ys):
                ax.plot(x, y, ls="none", marker=".", ms=4, color=f"C{i}", alpha=0.6)
        for j, (ref, value) in enumerate(sorted((references or {}).items())):
            if np.isfinite(value):
                ax.axhline(value, color=f"C{(j + 5) % 10}", ls=":", lw=1, label=f"{ref} (greedy)")
        if np.isfinite(thr):
            ax.axhline(thr, color="k", ls="--", lw=0.8, label=f"threshold ({spec.threshold_method} final)")
        ax.set_xlabel(label)
        ax.set_ylabel(f"rollout travel time (s), rolling {spec.threshold_window}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"{city}, {n} agents")
    return save_figure(fig, plt, path, dpi=100)


def plot_vs_agents(spec: SuiteSpec, samples, city: str, path: Path) -> Path | None:
    agg = aggregate(samples, "mean_travel_time", confidence=spec.confidence)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in [m.name for m in spec.methods] + list(spec.references):
        pts = [(n, agg[(city, n, name)]) for n in spec.agents if (city, n, name) in agg]
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1].mean for p in pts], capsize=3, marker="o", label=name,
                        yerr=[p[1].half_width if p[1].defined else 0.0 for p in pts])
    ax.set_xlabel("controlled agents")
    ax.set_ylabel("final mean travel time (s)")
    ax.set_title(city)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, plt, path, dpi=100)


def claims_section(spec: SuiteSpec, samples: Sequence[Sample], curves) -> list[str]:
    """Markdown: every claim check of :mod:`reled_sumo.bench.claims` and a verdict count."""

    final: dict[tuple, list[float]] = {}
    gen: dict[tuple, list[float]] = {}
    refs: dict[tuple, list[float]] = {}
    for smp in samples:
        tt = smp.values.get("censored_travel_time", np.nan)  # non-arrivals count: arrival rates differ a lot
        if smp.kind == "train":
            final.setdefault((smp.city, smp.agents, smp.method), []).append(tt)
        elif smp.kind == "ref":
            refs.setdefault((smp.city, smp.agents, smp.method), []).append(tt)
        elif smp.kind == "gen":
            gen.setdefault((smp.target, smp.method), []).append(tt)
    eff = C.efficiency_samples(curves, thresholds(spec, curves), spec.threshold_window, (COL_X, COL_WALL, COL_Y))
    role = {method: r for r, method in spec.claims_roles.items()}  # the claims name methods by their role
    final = {(c, n, role.get(m, m)): v for (c, n, m), v in final.items()}
    eff = {(c, n, role.get(m, m)): v for (c, n, m), v in eff.items()}
    gen = {(t, role.get(m, m)): v for (t, m), v in gen.items()}
    checks = C.check_claims([c.name for c in spec.cities], spec.agents, [role.get(m.name, m.name) for m in spec.methods],
                            final, eff, gen, spec.confidence, refs)
    if not checks:
        return []
    roles = ", ".join(f"{r} = `{m}`" for r, m in spec.claims_roles.items() if r != m)
    rows = [(c.claim, c.scope, c.other, c.metric, f"{c.reled:.1f}", f"{c.other_mean:.1f}", c.diff.format(1),
             str(c.diff.n), c.verdict) for c in checks]
    counts = "; ".join(f"{k}: " + ", ".join(f"{v} {n}" for v, n in sorted(d.items()))
                       for k, d in C.summary(checks).items())
    return ["## Claims (computed)", "",
            "d = other - reled (> 0: RELED better), Welch CI; held / refuted when the CI excludes 0 "
            "(reled_sumo/bench/claims.py, docs/benchmarks.md). Travel times here include the agents "
            "that did not arrive, with their time in the network up to the horizon (a lower bound)."
            + (f" Roles (claims_roles): {roles}." if roles else ""), "",
            markdown_table(("claim", "scope", "vs", "metric", "reled", "other", "d", "n", "verdict"), rows), "",
            f"Verdicts: {counts}.", ""]


def write_suite_report(spec: SuiteSpec, out: str | Path, force: bool = False) -> Path:
    """``<out>/report.md`` and its plots, from the result files and the runs' progress.csv.

    A ``report.md`` there that this tool did not write is only overwritten with ``force``."""

    out = Path(out)
    check_output(out / "report.md", force)
    samples, curves = load_samples(out), load_curves(spec, out)
    steps = steps_table(spec, curves)
    pct = f"{spec.confidence * 100:g} %"
    budget = (f"{spec.budget_updates} updates" if spec.budget_updates is not None
              else f"{spec.budget:,} agent decisions")
    md = [f"# Learning suite `{spec.name}`", "",
          f"Budget {budget} per run; training seeds {list(spec.seeds)}; "
          f"{spec.eval_seeds} greedy evaluation episode(s) per run (seeds 10000+). Cells: mean ± {pct} "
          "Student-t CI; methods across training seeds (each seed = its run's mean over the evaluation "
          "episodes), references across evaluation seeds. Steps to threshold: first env-decision count at "
          f"which a run's rolling mean ({spec.threshold_window} updates) of its rollout travel time is <= the "
          f"final {spec.threshold_method} level (docs/benchmarks.md); mean over the runs that reached it.", ""]
    header = ("method", "travel time (s)", "incl. non-arrived (s)", "arrival rate", "return", "n", "steps to threshold", "reached",
              "train wall (s)", "decisions/s")
    for c in spec.cities:
        for n in spec.agents:
            rows = _main_rows(spec, samples, steps, c.name, n)
            if rows:
                md += [f"## {c.name}, {n} agents", "", markdown_table(header, rows), ""]
                refs = {smp.method: smp for smp in samples if smp.kind == "ref" and (smp.city, smp.agents) == (c.name, n)}
                ref_tt = {r: _nanmean([s.values.get("censored_travel_time", np.nan) for s in samples
                                       if s.kind == "ref" and (s.city, s.agents, s.method) == (c.name, n, r)])
                          for r in refs if r != "random"}
                if p := plot_curves(spec, curves, c.name, n, out / f"curves_{c.name}_n{n}.png", ref_tt):
                    md += [f"![curves]({p.name})", ""]
        if len(spec.agents) > 1:
            if p := plot_vs_agents(spec, samples, c.name, out / f"tt_vs_agents_{c.name}.png"):
                md += [f"![travel time vs agents]({p.name})", ""]
    if spec.generalization is not None:
        head, rows = _gen_rows(spec, samples)
        md += ["## Generalization (no further training)", "", "Travel time (s) mean ± CI (arrival rate), "
               f"{spec.generalization.agents} agents.", "", markdown_table(head, rows), ""]
    md += paired_section(spec, out)
    md += claims_section(spec, samples, curves)
    path = write_output(out / "report.md", "\n".join(md), force)
    log.info("wrote %s", path)
    return path



def run_and_report(spec: SuiteSpec, out: str | Path, jobs: int | None = 1,
                   on_done: Callable[[Any], None] | None = None, force: bool = False,
                   **where: Any) -> tuple[SuiteOutcome, Path]:
    """:func:`~reled_sumo.bench.suite.run_suite` (``where``: its ``ray_address`` / ``ray_task_cpus``),
    then the report over every finished task."""
    check_output(Path(out) / "report.md", force)  # before the suite runs, not after
    outcome = run_suite(spec, out, jobs, on_done=on_done, **where)
    return outcome, write_suite_report(spec, out, force)
