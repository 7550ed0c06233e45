import numpy as np
import pytest

from reled_sumo.demos.trajectory import DemoFormatError, DemoSet, Trajectory


def make(agent="agent_0", t=3, d=5, k=4, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((t, k), bool)
    masks[:, :2] = True
    return Trajectory(agent, rng.normal(size=(t, d)).astype(np.float32), rng.integers(0, 2, t), masks,
                      -rng.random(t).astype(np.float32), rng.normal(size=(t + 1, 2)), ("a", "b"), 12.5, True, 1.0)


def test_roundtrip(tmp_path):
    ds = DemoSet({f"agent_{i}": make(f"agent_{i}", t=i, seed=i) for i in range(4)}, {"expert": "routing", "round": 2})
    ds.save(tmp_path / "d")
    back = DemoSet.load(tmp_path / "d")
    assert back.meta == {"expert": "routing", "round": 2}
    for k, tr in ds.trajectories.items():
        b = back.trajectories[k]
        np.testing.assert_array_equal(tr.obs, b.obs)
        np.testing.assert_array_equal(tr.actions, b.actions)
        np.testing.assert_array_equal(tr.positions, b.positions)
        assert b.ret == pytest.approx(tr.ret) and b.edges == tr.edges


def test_rejects_masked_action():
    tr = make()
    with pytest.raises(DemoFormatError, match="not allowed"):
        Trajectory("x", tr.obs, np.array([3, 0, 0]), tr.masks, tr.rewards, tr.positions, (), 1.0, True)


def test_rejects_bad_shapes_and_nan():
    tr = make()
    with pytest.raises(DemoFormatError, match="obs shape"):
        Trajectory("x", tr.obs[:2], tr.actions, tr.masks, tr.rewards, tr.positions, (), 1.0, True)
    bad = tr.rewards.copy()
    bad[0] = np.nan
    with pytest.raises(DemoFormatError, match="non-finite"):
        Trajectory("x", tr.obs, tr.actions, tr.masks, bad, tr.positions, (), 1.0, True)


def test_frozen_arrays():
    tr = make()
    with pytest.raises(ValueError):
        tr.obs[0, 0] = 1.0


def test_load_garbage(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DemoFormatError):
        DemoSet.load(tmp_path)
