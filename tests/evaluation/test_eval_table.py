"""`reled eval`'s terminal table stays readable at 80 columns: one line per method, nothing wrapped."""
from __future__ import annotations

import io

from rich.console import Console

from reled_sumo.cli.eval import results_table
from reled_sumo.metrics.results import EvalResult, SeedMetrics


def _result(method: str, tt: list[float]) -> EvalResult:
    seeds = tuple(SeedMetrics(seed=10_000 + i, n_agents=100, mean_travel_time=t, p95_travel_time=2 * t,
                              arrival_rate=0.93 - 0.01 * i, mean_waiting_time=123.45 + i, teleports=i,
                              mean_return=-1234.567 - i, unfinished=1, not_departed=0, censored_travel_time=t,
                              wall_seconds=1.0) for i, t in enumerate(tt))
    return EvalResult(method, "helsinki", "abc", seeds)


def test_eval_table_fits_80_columns():
    results = [_result("reled:helsinki-n100-s0-long-name", [1234.5, 1300.2, 1290.0]),
               _result("sumo-rerouting", [1111.1, 1120.0, 1130.5]), _result("shortest", [1500.0])]
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(results_table(results))
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.strip() and not set(line.strip()) <= {"─", " "}]
    # title, header, one line per method: no cell wraps onto a second line
    assert len(body) == 2 + len(results), "\n".join(lines)
    assert any("1274.9±" in line for line in body) and any("1500.0" in line for line in body)
