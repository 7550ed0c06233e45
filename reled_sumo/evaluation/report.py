"""``report.md`` and PNG plots from evaluation results and (optional) training logs.

Files written into the output folder:

* ``report.md``: the metrics table (one row per method: mean ± 95 % CI across seeds),
  per-seed details and links to the plots;
* ``travel_times.png``: box plot of arrived agents' travel times per method (all seeds pooled);
* ``learning_curves.png``: training curves (mean travel time / arrival rate / return
  over environment steps) of every run whose ``progress.csv`` has them;
* ``weights_bound.png``: mean expert weight w_i and SED bound over training, when logged.

Training logs are CSV files with a header; the column names below are looked up and
missing columns (or files) are skipped.
"""
from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from reled_sumo.evaluation.paired import JAM_FACTOR, PAIRED_HEADER, learned_vs_references, paired_rows
from reled_sumo.metrics.results import EvalResult
from reled_sumo.safe_write import check_output, record_output, write_output

log = logging.getLogger(__name__)

# each quantity: the column names it may have in a training log, first present wins
COL_STEPS = ("time/env_steps", "time/env_decisions", "time/total_timesteps")
COL_TRAVEL_TIME = ("rollout/mean_travel_time",)
COL_ARRIVAL = ("rollout/arrival_rate",)
COL_RETURN = ("rollout/mean_return",)
COL_EVAL_TRAVEL_TIME = ("eval/mean_travel_time",)
COL_WEIGHT = ("train/mean_weight", "expert/w_mean")
COL_BOUND = ("sed/mean_bound", "expert/sed_bound", "sed/bound")
CURVE_COLUMNS = ((COL_TRAVEL_TIME, "mean travel time (s)"), (COL_EVAL_TRAVEL_TIME, "eval travel time (s)"),
                 (COL_ARRIVAL, "arrival rate"), (COL_RETURN, "mean return"))
SED_COLUMNS = ((COL_WEIGHT, "mean expert weight w_i"), (COL_BOUND, "mean SED bound"))
PROGRESS_FILE = "progress.csv"
REPORT_FILE = "report.md"

TABLE_HEADER = ("method", "travel incl. non-arrived (s)", "its median (s)", "travel time (s)", "P95 (s)",
                "arrival rate", "waiting (s)", "teleports", "return", "seeds")


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    plots: tuple[Path, ...]


# ----------------------------------------------------------------- progress
def read_progress(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a training log as float arrays (unparseable cells -> NaN); {} if unreadable."""
    p = Path(path)
    try:
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        log.warning("cannot read training log %s: %s", p, exc)
        return {}
    if not rows:
        return {}
    return {c: np.array([_num(r.get(c)) for r in rows]) for c in rows[0] if c}


def _num(x: str | None) -> float:
    try:
        return float(x) if x not in (None, "") else math.nan
    except ValueError:
        return math.nan


def find_progress(run_dir: str | Path) -> Path | None:
    """``<run>/progress.csv``, else the first ``progress.csv`` below the run folder."""
    run = Path(run_dir)
    direct = run / PROGRESS_FILE
    if direct.is_file():
        return direct
    found = sorted(run.rglob(PROGRESS_FILE)) if run.is_dir() else []
    return found[0] if found else None


# -------------------------------------------------------------------- table
def table_rows(results: Sequence[EvalResult], confidence: float = 0.95) -> list[tuple[str, ...]]:
    """One row per result, cells formatted as in :data:`TABLE_HEADER`."""
    rows: list[tuple[str, ...]] = []
    for r in results:
        s = r.summary(confidence)
        rows.append((
            r.method,
            r.estimate("censored_travel_time", confidence).format(1),
            _median(r.values("censored_travel_time")),
            s["mean_travel_time"].format(1),
            s["p95_travel_time"].format(1, ci=False),
            s["arrival_rate"].format(3),
            s["mean_waiting_time"].format(1),
            s["teleports"].format(1, ci=False),
            s["mean_return"].format(3),
            str(len(r.per_seed)),
        ))
    return rows


def _median(x: np.ndarray) -> str:
    x = x[np.isfinite(x)]
    return f"{float(np.median(x)):.1f}" if x.size else "n/a"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _seed_rows(results: Sequence[EvalResult]) -> list[tuple[str, ...]]:
    fmt = lambda x, d: "n/a" if not math.isfinite(x) else f"{x:.{d}f}"  # noqa: E731
    return [(r.method, str(s.seed), fmt(s.mean_travel_time, 1), fmt(s.censored_travel_time, 1),
             fmt(s.arrival_rate, 3), str(s.unfinished), str(s.teleports), str(s.not_departed),
             fmt(s.wall_seconds, 1)) for r in results for s in r.per_seed]


# -------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib  # lazy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    return plt


def plot_travel_times(results: Sequence[EvalResult], path: Path) -> Path | None:
    data = [(r.method, r.travel_times()) for r in results]
    data = [(m, t[np.isfinite(t)]) for m, t in data]
    if not any(t.size for _, t in data):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(data) + 2), 4.0))
    ax.boxplot([t if t.size else np.array([np.nan]) for _, t in data], showmeans=True)
    ax.set_xticks(range(1, len(data) + 1), [m for m, _ in data], rotation=20, ha="right")
    ax.set_ylabel("travel time of arrived agents (s)")
    ax.set_title("Travel-time distribution (all seeds pooled)")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, plt, path)


def _column(log_: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray | None:
    for name in names:
        y = log_.get(name)
        if y is not None and np.isfinite(y).any():
            return y
    return None


def _series(log_: Mapping[str, np.ndarray], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    y = _column(log_, names)
    if y is None:
        return None
    x = _column(log_, COL_STEPS)
    if x is None:
        x = np.arange(len(y), dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def plot_columns(logs: Mapping[str, Mapping[str, np.ndarray]], columns, path: Path, title: str) -> Path | None:
    """One panel per column that any log has; one line per run."""
    present = [(c, label) for c, label in columns if any(_series(lg, c) for lg in logs.values())]
    if not present:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(present), 1, figsize=(7.0, 2.8 * len(present)), squeeze=False)
    for ax, (col, label) in zip(axes[:, 0], present):
        for name, lg in logs.items():
            s = _series(lg, col)
            if s is not None:
                ax.plot(s[0], s[1], label=name)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    steps = any(_column(lg, COL_STEPS) is not None for lg in logs.values())
    axes[-1, 0].set_xlabel("environment steps (decisions)" if steps else "log row")
    fig.suptitle(title)
    return save_figure(fig, plt, path)


def save_figure(fig, plt, path: Path, dpi: int = 110) -> Path:
    """Lay out, write and close a matplotlib figure (report and suite plots)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# ------------------------------------------------------------------- report
def report_files(out_dir: str | Path) -> tuple[Path, ...]:
    """The files :func:`write_report` may write into ``out_dir``."""
    out = Path(out_dir)
    return (out / REPORT_FILE, out / "travel_times.png", out / "learning_curves.png", out / "weights_bound.png")


def write_report(results: Sequence[EvalResult], out_dir: str | Path,
                 training_logs: Mapping[str, str | Path] | None = None, title: str = "Evaluation report",
                 confidence: float = 0.95, force: bool = False) -> ReportFiles:
    """Write ``report.md`` and the plots into ``out_dir``; ``training_logs``: run name -> progress.csv.

    Files there that this tool did not write are only overwritten with ``force``."""
    out = Path(out_dir)
    report, tt_png, curves_png, weights_png = report_files(out)
    for f in report_files(out):
        check_output(f, force)
    out.mkdir(parents=True, exist_ok=True)
    logs = {name: lg for name, p in (training_logs or {}).items() if (lg := read_progress(p))}
    plots = [p for p in (
        plot_travel_times(results, tt_png),
        plot_columns(logs, CURVE_COLUMNS, curves_png, "Learning curves"),
        plot_columns(logs, SED_COLUMNS, weights_png, "Expert weights and SED bound"),
    ) if p is not None]
    for p in plots:
        record_output(p)
    md = _markdown(results, plots, training_logs or {}, title, confidence)
    write_output(report, md, force)
    log.info("wrote %s and %d plot(s)", report, len(plots))
    return ReportFiles(report, tuple(plots))


def _paired_section(results: Sequence[EvalResult], confidence: float) -> list[str]:
    """Each trained run against each reference on their shared seeds (:mod:`.paired`)."""
    comps = learned_vs_references(results, confidence)
    if not comps:
        return []
    return ["## Paired against the references", "",
            f"Per-seed differences of the travel time counting non-arrived agents, on the seeds both were "
            f"evaluated on (common random numbers): mean ± {confidence * 100:g} % Student-t CI. Jam rate: the "
            f"share of seeds on which the run is above {JAM_FACTOR:g} x the reference. Verdict: better / worse "
            "when the whole interval lies below / above 0.", "",
            markdown_table(PAIRED_HEADER, paired_rows(comps)), "",
            *[f"- {c.method} {c.sentence()}." for c in comps], ""]


def _markdown(results, plots, training_logs, title, confidence) -> str:
    scen = sorted({f"{r.scenario} ({r.scenario_hash})" for r in results})
    pct = f"{confidence * 100:g} %"
    parts = [f"# {title}", "",
             f"Scenario: {', '.join(scen) or 'n/a'}. Seeds per method: one episode each; cells are "
             f"mean ± {pct} Student-t confidence interval across seeds (see docs/evaluation.md). "
             "Travel time and P95 cover agents that arrived within the horizon; the others lower the "
             "arrival rate and are listed per seed below.", "",
             markdown_table(TABLE_HEADER, table_rows(results, confidence)), "",
             *_paired_section(results, confidence),
             "## Per seed", "",
             markdown_table(("method", "seed", "travel time (s)", "censored travel time (s)", "arrival rate",
                             "unfinished", "teleported", "not departed", "wall (s)"), _seed_rows(results)), ""]
    if training_logs:
        parts += ["## Training logs", ""] + [f"- {name}: `{p}`" for name, p in training_logs.items()] + [""]
    if plots:
        parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    return "\n".join(parts)
