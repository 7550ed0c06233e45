"""`reled watch`: a clear error without a display; the real sumo-gui path under a display (marker gui)."""
import os

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
                              "--delay", "0", "--agents", "5"])
    assert res.exit_code == 0, res.output
    assert "5/5 agents arrived" in res.output
