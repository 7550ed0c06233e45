"""Issue 23, item 6: sizes that cannot fit are refused at once, with the number that would fit; a
build stopped by SIGTERM leaves no work folder behind."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.mark.parametrize("args,fits", [
    (["--background-vehicles", "1000000000"], "--background-vehicles 17900 or fewer"),
    (["--agents", "1000000000"], "--agents 18000 or fewer"),
    (["--background-vehicles", "5000", "--duration", "100"], "--background-vehicles 900 or fewer"),
    (["--duration", "1e9"], "at most 86400 s"),
])
def test_a_demand_that_cannot_fit_is_refused_at_once(home, args, fits):
    t0 = time.monotonic()
    res = runner.invoke(app, ["scenario", "build", "kotka", "--name", "big", *args])
    assert res.exit_code == 2 and fits in res.output, res.output
    assert "Traceback" not in res.output and time.monotonic() - t0 < 10
    assert not home.exists()


def test_huge_hidden_layers_are_refused_with_a_size_that_fits():
    from reled_sumo.training.config import load_config

    ci = ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml"
    with pytest.raises(ConfigError, match=r"hpo.pi_hidden .* at most 50,000,000 fit, e.g. \[7071, 7071\]"):
        load_config(ci, {"hpo.pi_hidden": [100_000_000, 100_000_000]})
    with pytest.raises(ConfigError, match="hpo.vf_hidden .* at most 65536 wide"):
        load_config(ci, {"hpo.vf_hidden": [10_000_000]})
    assert load_config(ci, {"hpo.pi_hidden": [256, 256]}).hpo.pi_hidden == (256, 256)


def test_sigterm_during_a_build_leaves_no_work_folder(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-m", "reled_sumo.cli.app", "scenario", "build", "kotka", "--name",
                             "busy", "--background-vehicles", "12000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**__import__("os").environ, "RELED_HOME": str(home)})
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not list((home / "scenarios").glob(".busy.building-*")):
            time.sleep(0.05)
        assert list((home / "scenarios").glob(".busy.building-*")), "the build never started"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert sorted(p.name for p in (home / "scenarios").iterdir()) == []
