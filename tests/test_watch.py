"""`reled watch`: a clear error without a display; the real sumo-gui path under a display (marker gui).

Run the gui tests with: xvfb-run -a -s "-screen 0 1600x1200x24" python -m pytest -m gui tests/test_watch.py
"""
import os
import signal
from pathlib import Path

import numpy as np

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app

runner = CliRunner()


def test_watch_without_display_is_clear(kotka_small, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = runner.invoke(app, ["watch", "--scenario", str(kotka_small.path)])
    assert res.exit_code == 2 and "xvfb-run" in res.output


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)")
def test_watch_opens_sumo_gui_with_traci(kotka_small):
    res = runner.invoke(app, ["watch", "--scenario", str(kotka_small.path), "--policy", "shortest",
                              "--delay", "0", "--agents", "5", "--quit-on-end"])
    assert res.exit_code == 0, res.output
    assert "5/5 agents arrived" in res.output


def test_watch_options_are_checked(tmp_path):
    from reled_sumo.cli.watch import _size
    from reled_sumo.errors import ConfigError, UserInputError
    from reled_sumo.sim.gui import GuiView, snapshot_times
    from reled_sumo.watch.record import check_output

    assert _size("800x600") == (800, 600)
    with pytest.raises(UserInputError):
        _size("big")
    with pytest.raises(ConfigError):
        GuiView((0, 0, 100, 100), (50, 50))
    with pytest.raises(UserInputError, match=".gif or .mp4"):
        check_output(tmp_path / "out.avi")
    with pytest.raises(UserInputError, match="does not exist"):
        check_output(tmp_path / "missing" / "out.gif")
    assert snapshot_times(100.0, 30.0, 10.0) == [110.0, 120.0, 130.0]


needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)")


def _watch(scenario, tmp_path, **opts):
    from reled_sumo.watch.gui import WatchOptions, reference_policy, watch

    return watch(scenario, reference_policy("shortest"), seed=1, delay_ms=0,
                 options=WatchOptions(window_size=(800, 600), **opts), max_agents=5)


def _read_frames(path: Path) -> list[np.ndarray]:
    import imageio.v3 as iio

    return [np.asarray(f) for f in iio.imiter(path)]


@pytest.mark.gui
@needs_display
@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_record_under_xvfb(sample_scenario, tmp_path, suffix):
    from reled_sumo.sim.gui import snapshot_times

    out = tmp_path / f"episode{suffix}"
    res = _watch(sample_scenario, tmp_path, quit_on_end=True, record=out, record_every=10.0, track="agent_1")
    assert res.arrived == 5 and res.recording is not None and out.is_file()
    expected = [t for t in snapshot_times(0.0, sample_scenario.duration, 10.0) if t <= res.sim_seconds]
    frames = _read_frames(out)
    assert res.recording.frames == len(frames)
    assert len(frames) == len(expected), (len(frames), len(expected), res.sim_seconds)
    print(f"\n{out.name}: {out.stat().st_size} bytes, {len(frames)} frames of {frames[0].shape}")
    for f in frames:
        rgb = f[..., :3].reshape(-1, 3).astype(np.uint32)
        colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
        assert rgb.std() > 10 and colours.size >= 3, "a blank frame (background and roads at least, and vehicles)"
    assert any(not np.array_equal(frames[0], f) for f in frames[1:]), "the frames never change"


@pytest.mark.gui
@needs_display
def test_gui_stays_open_after_the_episode_until_closed(sample_scenario, tmp_path, monkeypatch):
    from reled_sumo.sim import gui

    seen = {}
    original = gui.wait_until_closed

    def user_closes_later(sess, poll_s=0.25):
        seen["alive_at_end"] = gui.gui_alive(sess)
        os.kill(sess.pid, signal.SIGTERM)  # the user closes the window (our own child process)
        original(sess, poll_s)
        seen["closed"] = not gui.gui_alive(sess)

    monkeypatch.setattr(gui, "wait_until_closed", user_closes_later)
    res = _watch(sample_scenario, tmp_path)
    assert seen == {"alive_at_end": True, "closed": True} and res.arrived == 5


@pytest.mark.gui
@needs_display
def test_track_unknown_agent_is_clear(sample_scenario):
    res = runner.invoke(app, ["watch", "--scenario", str(sample_scenario.path), "--track", "agent_99",
                              "--agents", "5", "--quit-on-end"])
    assert res.exit_code == 2 and "agent_99" in res.output


@pytest.mark.gui
@needs_display
def test_watch_onnx_policy_drives_like_the_run(sample_scenario, tmp_path):
    from reled_sumo.training.config import load_config
    from reled_sumo.training.onnx_export import export_onnx
    from reled_sumo.training.trainer import Trainer
    from reled_sumo.watch.gui import WatchOptions, onnx_policy, run_policy, watch

    ci = Path(__file__).resolve().parents[1] / "reled_sumo" / "data" / "configs" / "ci.yaml"
    cfg = load_config(ci, {"scenario": str(sample_scenario.path), "algo": "bc", "env.max_agents": 5,
                           "env.horizon": 240, "total_decisions": 300, "hpo.n_epochs": 8, "hpo.learning_rate": 3e-3})
    run = Trainer(cfg, run_dir=tmp_path / "run").run().run_dir
    path = export_onnx(run)
    results = []
    for factory, _ in (run_policy(run), onnx_policy(path)):
        results.append(watch(sample_scenario, factory, seed=3, delay_ms=0,
                             options=WatchOptions(window_size=(640, 480), quit_on_end=True),
                             max_agents=5, horizon=600.0))
    torch_res, onnx_res = results
    assert (onnx_res.arrived, onnx_res.mean_travel_time, onnx_res.sim_seconds) == \
        (torch_res.arrived, torch_res.mean_travel_time, torch_res.sim_seconds)
