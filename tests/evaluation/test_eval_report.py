"""report.md and plots from synthetic evaluation results (no SUMO needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as plt_image

from reled_sumo.metrics.results import EvalResult, SeedMetrics
from reled_sumo.evaluation.report import TABLE_HEADER, find_progress, read_progress, table_rows, write_report


def _seed(seed: int, tt: float, arrival: float = 1.0, ret: float = -1.0) -> SeedMetrics:
    times = (tt - 10.0, tt, tt + 10.0)
    return SeedMetrics(seed=seed, n_agents=3, mean_travel_time=tt, p95_travel_time=tt + 9.0, arrival_rate=arrival,
                       mean_waiting_time=5.0, teleports=0, mean_return=ret, unfinished=0, not_departed=0,
                       censored_travel_time=tt, wall_seconds=0.5, travel_times=times)


def _result(method: str, tts, **kw) -> EvalResult:
    return EvalResult(method, "kotka", "abc123", tuple(_seed(10_000 + i, t, **kw) for i, t in enumerate(tts)))


@pytest.fixture()
def results():
    return [_result("hpo:run-a", [100.0, 110.0, 120.0]), _result("shortest", [130.0, 130.0]),
            _result("due", [125.0])]


def test_table_rows(results):
    rows = table_rows(results)
    assert [r[0] for r in rows] == ["hpo:run-a", "shortest", "due"]
    # 100, 110, 120: mean 110, s = 10, t_{.975,2} = 4.302653 -> half width 24.84
    assert rows[0][1] == "110.0 ± 24.8" and rows[0][-1] == "3"
    assert rows[1][1] == "130.0 ± 0.0" and rows[1][5] == "1.000 ± 0.000"
    assert rows[0][2] == "110.0"  # the median over the seeds
    assert rows[2][1] == "125.0 (CI undefined, n=1)"
    assert len(rows[0]) == len(TABLE_HEADER)


def test_report_without_training_logs(results, tmp_path):
    files = write_report(results, tmp_path / "out")
    md = files.markdown.read_text()
    assert files.markdown.name == "report.md"
    assert ("| method | travel incl. non-arrived (s) | its median (s) | travel time (s) | P95 (s) | arrival rate | "
            "waiting (s) | teleports | return | seeds |") in md
    assert ("| hpo:run-a | 110.0 ± 24.8 | 110.0 | 110.0 ± 24.8 | 119.0 | 1.000 ± 0.000 | 5.0 ± 0.0 | 0.0 | "
            "-1.000 ± 0.000 | 3 |") in md
    assert "Paired" not in md  # no result is marked as a reference
    assert "| due | 125.0 (CI undefined, n=1) |" in md
    assert "| shortest | 10001 |" in md  # per-seed section
    assert [p.name for p in files.plots] == ["travel_times.png"]
    assert "![travel_times](travel_times.png)" in md
    # the plot holds the boxes: matplotlib draws each median orange and each mean as a green triangle
    # (an empty axes has neither colour)
    r, g, b = np.moveaxis((plt_image.imread(files.plots[0])[:, :, :3] * 255).astype(int), 2, 0)
    assert ((r > 200) & (g > 90) & (g < 190) & (b < 120)).sum() > 20  # orange
    assert ((g > r + 50) & (g > b + 50)).sum() > 20  # green


def test_report_with_training_logs(results, tmp_path):
    full = tmp_path / "a" / "progress.csv"
    full.parent.mkdir()
    full.write_text("time/env_steps,rollout/mean_travel_time,rollout/arrival_rate,train/mean_weight,sed/mean_bound\n"
                    "100,150,0.8,0.9,0.5\n200,140,0.9,,0.4\n300,130,1.0,0.7,\n")
    partial = tmp_path / "b" / "logs" / "progress.csv"  # trainer-style names, no SED columns
    partial.parent.mkdir(parents=True)
    partial.write_text("time/env_decisions,rollout/mean_return,other\n10,-2,x\n20,-1.5,y\n")
    assert find_progress(tmp_path / "a") == full and find_progress(tmp_path / "b") == partial
    assert find_progress(tmp_path / "none") is None
    logs = {"hpo:run-a": full, "hpo:run-b": partial, "broken": tmp_path / "missing.csv"}
    files = write_report(results, tmp_path / "out", logs)
    assert {p.name for p in files.plots} == {"travel_times.png", "learning_curves.png", "weights_bound.png"}
    assert "## Training logs" in files.markdown.read_text()


def test_sed_plot_only_when_logged(results, tmp_path):
    log = tmp_path / "progress.csv"
    log.write_text("rollout/mean_travel_time\n150\n140\n")
    files = write_report(results, tmp_path / "out", {"r": log})
    assert {p.name for p in files.plots} == {"travel_times.png", "learning_curves.png"}


def test_read_progress_tolerates_bad_cells(tmp_path):
    p = tmp_path / "progress.csv"
    p.write_text("a,b\n1,x\n,2\n")
    cols = read_progress(p)
    assert cols["a"][0] == 1.0 and str(cols["a"][1]) == "nan" and cols["b"][1] == 2.0
    assert read_progress(tmp_path / "missing.csv") == {}
    (tmp_path / "empty.csv").write_text("")
    assert read_progress(Path(tmp_path / "empty.csv")) == {}


def test_no_arrivals_no_distribution_plot(tmp_path):
    s = SeedMetrics(1, 2, float("nan"), float("nan"), 0.0, 1.0, 0, -5.0, 2, 0, 600.0, 0.1, ())
    files = write_report([EvalResult("random", "k", "h", (s,))], tmp_path)
    assert files.plots == () and "| random | 600.0 (CI undefined, n=1) | 600.0 | n/a |" in files.markdown.read_text()
