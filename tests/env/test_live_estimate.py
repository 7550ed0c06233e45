"""The live edge-time estimate against a scripted red-light queue (no SUMO: the speed readings are scripted).

An edge of 100 m (limit 13.89 m/s) ends at a signal with a 90 s cycle: 45 s red, during which the
queue on the edge stands (mean speed 0.3 m/s), then 45 s green (mean speed 10 m/s). A vehicle that
arrives at a uniformly random phase needs 100 / 10 = 10 s plus, if it arrives during red, the rest
of the red phase: on average 10 + 0.5 * 22.5 = 21.25 s. The estimate read at any refresh must stay
within a factor 2 of that. The snapshot estimate (before 2026-12) read 144 s (20 x free flow) when a
refresh fell in the red phase.
"""
from __future__ import annotations

import numpy as np
import pytest

from reled_sumo.env.live import LiveTimes, SpeedWindow
from reled_sumo.env.tables import RoutingTables

CYCLE, RED = 90.0, 45.0
TRUE_TIME = 100.0 / 10.0 + (RED / CYCLE) * (RED / 2)  # 21.25 s


def _speed(t: float) -> float:
    return 0.3 if (t % CYCLE) < RED else 10.0


@pytest.fixture(scope="module")
def tables(sample_scenario):
    return RoutingTables.for_scenario(sample_scenario, [sample_scenario.agents[0].destination])


def _edge_of_length(tables, lo: float, hi: float) -> int:
    cand = np.flatnonzero((tables.length > lo) & (tables.length < hi))
    assert cand.size, "the sample network has no edge of that length"
    return int(cand[0])


def _run(live: LiveTimes, tables, e: int, scale: float) -> list[float]:
    """Scripted speeds on edge e (its own length scaled to the trace), free flow elsewhere; the
    estimate of e (converted to the 100 m edge of the docstring) read at every refresh after warm-up."""
    free = tables.length / tables.ff
    out = []
    for step in range(1, 1200):
        t = float(step)
        speeds = free.copy()
        speeds[e] = _speed(t)
        live.tick(t, lambda s=speeds: s)
        live.current(t, lambda: tables.length / np.maximum(speeds, 0.1), rows=[0])
        if t >= 300 and (t % live.period_s) == 0:
            out.append(float(live.edge_time[e]) * scale)
    return out


@pytest.mark.parametrize("sample_s", [1.0, 5.0])  # 5 s: the default since 2026-12-06
def test_speed_window_stays_near_the_true_traversal_time_through_a_red_light(tables, sample_s):
    e = _edge_of_length(tables, 60.0, 400.0)
    scale = 100.0 / tables.length[e]  # the trace is for 100 m; the edge's own length scales out
    est = _run(LiveTimes(tables, period_s=30.0, estimate="speed_window", window_s=60.0, sample_s=sample_s), tables, e,
               scale)
    assert len(est) >= 20
    assert max(est) <= 2.0 * TRUE_TIME and min(est) >= 0.5 * TRUE_TIME, (min(est), max(est), TRUE_TIME)


def test_the_snapshot_estimate_is_fooled_by_the_same_queue(tables):
    """What the window fixes: a snapshot refresh that falls in the red phase reads a jam."""
    e = _edge_of_length(tables, 60.0, 400.0)
    scale = 100.0 / tables.length[e]
    est = _run(LiveTimes(tables, period_s=30.0, estimate="snapshot"), tables, e, scale)
    assert max(est) > 2.0 * TRUE_TIME


def test_speed_window_averages_speeds_not_times():
    w = SpeedWindow(np.array([10.0]), 4)
    for v in (0.0, 10.0, 10.0, 10.0):
        w.add(np.array([v]))
    # mean speed 7.5 -> 100 m in 13.3 s; a mean of times would be dominated by the stopped reading
    assert w.times(np.array([100.0]), np.array([10.0]))[0] == pytest.approx(100.0 / 7.5)
    w.add(np.array([np.nan]))  # a missing reading counts as free flow, never as a jam
    assert w.mean()[0] == pytest.approx(10.0)


def test_window_starts_at_free_flow_and_resets(tables):
    live = LiveTimes(tables, period_s=30.0, estimate="speed_window", window_s=60.0, sample_s=1.0)
    live.current(0.0, lambda: None, rows=[0])
    assert np.allclose(live.edge_time, tables.ff)
    live.tick(1.0, lambda: np.full(tables.E, 0.0))
    live.reset()
    live.current(0.0, lambda: None, rows=[0])
    assert np.allclose(live.edge_time, tables.ff) and live.samples == 0
