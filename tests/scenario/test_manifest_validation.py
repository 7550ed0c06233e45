"""Issue 23, items 8 and 10: a malformed scenario.json is one clear line (no KeyError/AttributeError
traceback), a manifest's file names never leave the scenario folder, and a folder in the current
directory never silently shadows a built scenario of the same name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.errors import ScenarioError, UserInputError
from reled_sumo.scenario import resolve_scenario

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_scenario"
CI = str(Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml")
runner = CliRunner()


def _good() -> dict:
    return json.loads((SAMPLE / "scenario.json").read_text())


def _escape() -> dict:
    m = _good()
    m["files"]["net"]["name"] = "../../../victim/keep.txt"
    return m


def _no_options() -> dict:
    m = _good()
    del m["options"]
    return m


def _bad_agents() -> dict:
    m = _good()
    m["agents"] = [{"id": "agent_0"}]
    return m


BROKEN = {"only-version": {"format_version": 1}, "list": [1, 2], "string": "x", "escape": _escape(),
          "files-not-dict": {**_good(), "files": [1]}, "bad-agents": _bad_agents(), "no-options": _no_options(),
          "counts-a-list": {**_good(), "counts": [1]}}


@pytest.fixture
def broken(tmp_path, request) -> Path:
    d = tmp_path / "sc"
    shutil.copytree(SAMPLE, d)
    (d / "scenario.json").write_text(json.dumps(BROKEN[request.param]))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    return d


def _one_line(res, code: int) -> None:
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "error:" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("broken", sorted(BROKEN), indirect=True)
def test_a_malformed_manifest_is_one_clear_line_in_info_and_train(broken, tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_HOME", str(tmp_path / "home"))
    res = runner.invoke(app, ["scenario", "info", str(broken)])
    _one_line(res, 1)
    assert "scenario.json" in res.output
    res = runner.invoke(app, ["train", "--config", CI, "--scenario", str(broken), "--out", str(tmp_path / "run"),
                              "--steps", "20"])
    _one_line(res, 1)
    assert not (tmp_path / "run").exists()
    assert (tmp_path / "victim" / "keep.txt").read_text() == "keep"


def test_manifest_paths_never_leave_the_folder(tmp_path):
    d = tmp_path / "sc"
    shutil.copytree(SAMPLE, d)
    for name in ("../../../victim/keep.txt", "/etc/passwd", "..", "sub/net.net.xml"):
        m = _good()
        m["files"]["net"]["name"] = name
        (d / "scenario.json").write_text(json.dumps(m))
        with pytest.raises(ScenarioError, match="not a plain file name"):
            resolve_scenario(d)


def test_a_folder_here_does_not_shadow_a_built_scenario(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("RELED_HOME", str(home))
    shutil.copytree(SAMPLE, home / "scenarios" / "kotka")
    here = tmp_path / "here"
    shutil.copytree(SAMPLE, here / "kotka")
    monkeypatch.chdir(here)
    with pytest.raises(UserInputError, match="both a folder here"):
        resolve_scenario("kotka")
    assert resolve_scenario("./kotka").path == (here / "kotka").resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("kotka").path == (home / "scenarios" / "kotka").resolve()
    monkeypatch.chdir(home / "scenarios")  # the folder here is the built scenario itself: no ambiguity
    assert resolve_scenario("kotka").path == (home / "scenarios" / "kotka").resolve()
