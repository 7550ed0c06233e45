"""libsumo edge mean speeds read only where vehicles are (sim/speeds.py) equal a full read, step by step."""
from __future__ import annotations

import numpy as np

from reled_sumo.sim import SessionConfig, SumoSession
from reled_sumo.sim.speeds import EmptySpeeds, mean_speeds


class _Counting:
    """The libsumo module with ``edge.getLastStepMeanSpeed`` counted (everything else passes through)."""

    def __init__(self, api):
        self._api, self.calls = api, 0
        outer = self

        class _Edge:
            def __getattr__(self, name):
                return getattr(api.edge, name)

            def getLastStepMeanSpeed(self, e):  # noqa: N802 - libsumo's name
                outer.calls += 1
                return api.edge.getLastStepMeanSpeed(e)

        self.edge = _Edge()

    def __getattr__(self, name):
        return getattr(self._api, name)


def test_sparse_reading_equals_a_full_reading_at_every_step(sample_scenario):
    ids = sample_scenario.graph.edge_ids
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", seed=3)) as s:
        api = _Counting(s.api)
        known = EmptySpeeds.of(api, ids)
        full_calls, sparse_calls, busy = 0, 0, 0
        for _ in range(900):
            s.run_steps(1)
            full = np.array([s.api.edge.getLastStepMeanSpeed(e) for e in ids])
            full_calls += len(ids)
            before = api.calls
            sparse = mean_speeds(api, known)
            sparse_calls += api.calls - before
            np.testing.assert_array_equal(sparse, full)
            # vehicles slower than the edge's empty reading somewhere: the occupied edges did matter
            busy += bool(np.nan_to_num(known.empty - full, nan=0.0).max() > 1.0)
        assert busy > 100
        assert sparse_calls < 0.8 * full_calls  # it did skip the empty edges
        # through the session, with the option on (default) and off: the same numbers
        on = s.edge_mean_speeds(ids)
        s.config = SessionConfig(backend="libsumo", seed=3, sparse_speeds=False)
        np.testing.assert_array_equal(s.edge_mean_speeds(ids), on)


def test_an_edge_set_that_changes_is_learnt_again(sample_scenario):
    ids = list(sample_scenario.graph.edge_ids)
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", seed=1)) as s:
        s.run_steps(300)
        a = s.edge_mean_speeds(ids)
        b = s.edge_mean_speeds(ids[::-1])
        np.testing.assert_array_equal(b, a[::-1])
