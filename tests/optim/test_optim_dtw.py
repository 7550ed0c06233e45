import itertools

import numpy as np
import pytest

from reled_sumo.optim.dtw import dtw_batch, dtw_reference, path_dtw, resample_polyline, timed_path_dtw


def brute_force_dtw(a, b):
    """Minimum over every monotone warping path, enumerated recursively (tiny inputs only)."""
    n, m = len(a), len(b)

    def paths(i, j):
        if (i, j) == (n - 1, m - 1):
            yield [(i, j)]
            return
        for di, dj in ((1, 0), (0, 1), (1, 1)):
            if i + di < n and j + dj < m:
                for rest in paths(i + di, j + dj):
                    yield [(i, j), *rest]

    best = min(sum(np.linalg.norm(a[i] - b[j]) for i, j in p) for p in paths(0, 0))
    return best / max(n, m)


def test_resample_polyline_arc_length():
    pts = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    out = resample_polyline(pts, 5)
    np.testing.assert_allclose(out, [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]], atol=1e-12)


def test_resample_polyline_degenerate():
    np.testing.assert_allclose(resample_polyline(np.array([[1.0, 2.0]]), 3), [[1, 2]] * 3)
    dup = np.array([[0.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(resample_polyline(dup, 3), [[0, 0], [2, 0], [4, 0]])
    with pytest.raises(ValueError):
        resample_polyline(np.zeros((0, 2)), 3)


def test_batched_dtw_matches_references():
    rng = np.random.default_rng(1)
    for n, m in itertools.product((1, 3, 5), (1, 2, 4)):
        a, b = rng.normal(size=(6, n, 2)), rng.normal(size=(6, m, 2))
        batched = dtw_batch(a, b)
        for k in range(6):
            assert batched[k] == pytest.approx(dtw_reference(a[k], b[k]), rel=1e-12)
            assert batched[k] == pytest.approx(brute_force_dtw(a[k], b[k]), rel=1e-12)


def test_dtw_normalisation_parallel_lines():
    a = np.stack([np.linspace(0, 100, 20), np.zeros(20)], axis=1)
    b = a + [0.0, 7.0]
    assert dtw_batch(a[None], b[None])[0] == pytest.approx(7.0)
    assert dtw_batch(a[None], a[None])[0] == 0.0


def test_path_dtw_missing_and_timing():
    line = np.array([[0.0, 0.0], [100.0, 0.0]])
    shifted = line + [0.0, 3.0]
    d, seconds = timed_path_dtw([line, line, None, np.zeros((0, 2))], [shifted, line, line, line], n_points=16)
    assert d[0] == pytest.approx(3.0) and d[1] == 0.0
    assert np.isnan(d[2]) and np.isnan(d[3])
    assert seconds >= 0.0
    np.testing.assert_array_equal(np.isnan(path_dtw([None], [None])), [True])


def test_many_pairs_is_fast():
    rng = np.random.default_rng(2)
    paths = [np.cumsum(rng.normal(size=(rng.integers(2, 40), 2)), axis=0) for _ in range(200)]
    experts = [np.cumsum(rng.normal(size=(rng.integers(2, 40), 2)), axis=0) for _ in range(200)]
    d, seconds = timed_path_dtw(paths, experts, n_points=32)
    assert np.all(np.isfinite(d)) and seconds < 2.0
