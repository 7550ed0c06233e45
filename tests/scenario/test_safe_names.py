"""Issue 12: scenario names never leave $RELED_HOME/scenarios, builds never delete what they did not create,
a rebuild with other inputs never pulls a scenario from under its runs, OS errors are one line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.scenario import resolve_scenario

DATA = Path(__file__).parents[1] / "data"
TINY = str(DATA / "tiny_grid.osm")
SMALL = ("--agents", "4", "--background-vehicles", "10", "--duration", "200")
runner = CliRunner()


def _build(*args: str):
    return runner.invoke(app, ["scenario", "build", *args])


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def _one_line_error(res) -> str:
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert "error:" in res.output
    return res.output


@pytest.mark.parametrize("bad", [".", "..", "../../x", "../escape", "a/b", "/abs", "-lead", "x" * 300, " ", "a\x00b"])
def test_unsafe_names_are_refused_and_touch_nothing(home, tmp_path, bad):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    existing = home / "scenarios" / "keepme"
    existing.mkdir(parents=True)
    (existing / "scenario.json").write_text("{}")
    name = str(victim) if bad == "/abs" else bad
    before_home, before_victim = _tree(home), _tree(victim)
    res = _build("--osm", TINY, "--name", name, *SMALL)
    assert res.exit_code == 2, res.output
    _one_line_error(res)
    assert _tree(home) == before_home and _tree(victim) == before_victim
    assert not (tmp_path / "x").exists() and not (tmp_path / "escape").exists()


def test_absolute_name_does_not_replace_a_folder(home, tmp_path):
    victim = tmp_path / "some" / "folder"
    victim.mkdir(parents=True)
    (victim / "data.csv").write_text("1,2,3\n")
    res = _build("--osm", TINY, "--name", str(victim), *SMALL)
    assert res.exit_code == 2 and (victim / "data.csv").read_text() == "1,2,3\n"
    assert not (victim / "scenario.json").exists()


def test_a_target_that_is_not_a_scenario_folder_is_refused(home):
    foreign = home / "scenarios" / "mine"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("not a scenario")
    res = _build("--osm", TINY, "--name", "mine", *SMALL)
    assert res.exit_code == 2 and "not a scenario folder" in res.output, res.output
    assert (foreign / "notes.txt").read_text() == "not a scenario" and len(list(foreign.iterdir())) == 1
    (home / "scenarios" / "afile").write_text("x")
    res = _build("--osm", TINY, "--name", "afile", *SMALL)
    assert res.exit_code == 2 and (home / "scenarios" / "afile").read_text() == "x"


def test_rebuild_with_other_inputs_is_refused_then_replace_keeps_foreign_files(home):
    assert _build("--osm", TINY, "--name", "Grid", *SMALL).exit_code == 0
    sc = resolve_scenario("grid")
    umask = os.umask(0)
    os.umask(umask)
    assert sc.path.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private mode of a temp folder
    before = _tree(sc.path)
    res = _build("--osm", TINY, "--name", "grid", "--agents", "5", "--background-vehicles", "10",
                 "--duration", "200")
    assert res.exit_code == 2 and "--replace" in res.output, res.output
    assert _tree(sc.path) == before  # the old scenario is still there, unchanged
    # same inputs: a cache hit; --force rebuilds the same scenario (same hash) without --replace
    assert "cache hit" in _build("--osm", TINY, "--name", "grid", *SMALL).output
    res = _build("--osm", TINY, "--name", "grid", *SMALL, "--force")
    assert res.exit_code == 0 and resolve_scenario("grid").scenario_hash == sc.scenario_hash
    (sc.path / "my-notes.txt").write_text("mine")
    res = _build("--osm", TINY, "--name", "grid", "--agents", "5", "--background-vehicles", "10",
                 "--duration", "200", "--replace")
    assert res.exit_code == 0, res.output
    new = resolve_scenario("grid")
    assert len(new.agents) == 5 and new.scenario_hash != sc.scenario_hash
    assert not (new.path / "my-notes.txt").exists()
    kept = list((home / "scenarios").glob(".grid.replaced-*/old/my-notes.txt"))
    assert len(kept) == 1 and kept[0].read_text() == "mine"  # not the builder's: kept, not deleted
    leftovers = [p.name for p in (home / "scenarios").iterdir() if ".building" in p.name]
    assert leftovers == []


def test_name_is_honoured_for_bundled_cities(home):
    res = _build("kotka", "--name", "kbig", "--agents", "6", "--background-vehicles", "20", "--duration", "300")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (home / "scenarios").iterdir()) == ["kbig"]
    sc = resolve_scenario("KBig")  # lookups lowercase names as build does
    assert sc.name == "kbig" and len(sc.agents) == 6
    info = runner.invoke(app, ["scenario", "info", "KBIG"])
    assert info.exit_code == 0 and "kbig" in info.output, info.output


def test_duration_nan_or_inf_is_refused_before_any_tool_runs(home):
    for bad in ("nan", "inf", "-inf", "0"):
        res = _build("--osm", TINY, "--name", "g", "--duration", bad)
        assert res.exit_code == 2 and "--duration" in res.output, (bad, res.output)
        _one_line_error(res)
    assert not home.exists() or not any(home.rglob("*.log"))


def test_reled_home_that_is_a_file_gives_one_line_not_a_traceback(tmp_path, monkeypatch):
    f = tmp_path / "home-file"
    f.write_text("x")
    monkeypatch.setenv("RELED_HOME", str(f))
    res = _build("--osm", TINY, "--name", "g", *SMALL)
    assert res.exit_code == 74, res.output
    assert "operating-system error" in _one_line_error(res) and str(f) in res.output.replace("\n", "")


def _unprivileged(cmd: list[str], env: dict[str, str], ro: Path) -> subprocess.CompletedProcess:
    """Run ``cmd`` so that ``ro`` is read-only for it (as nobody when we are root)."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot make a folder read-only")
        for p in [ro, *ro.rglob("*")]:
            os.chown(p, 0, 0)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    else:
        for p in [ro, *ro.rglob("*")]:
            if p.is_dir():
                p.chmod(0o555)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def open_tmp():
    """A temporary folder that another user can traverse (pytest's tmp_path is private to us)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="reled-ro-"))
    d.chmod(0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


def test_cache_hit_on_a_read_only_home_writes_nothing_and_succeeds(open_tmp, monkeypatch):
    home = open_tmp / "home"
    monkeypatch.setenv("RELED_HOME", str(home))
    assert _build("--osm", TINY, "--name", "g", *SMALL).exit_code == 0
    before = _tree(home)
    env = {**os.environ, "RELED_HOME": str(home), "HOME": str(open_tmp)}
    reled = [sys.executable, "-m", "reled_sumo.cli.app"]
    res = _unprivileged([*reled, "scenario", "build", "--osm", TINY, "--name", "g", *SMALL], env, home)
    assert res.returncode == 0 and "cache hit" in res.stdout, res.stdout + res.stderr
    res = _unprivileged([*reled, "scenario", "build", "--osm", TINY, "--name", "g2", *SMALL], env, home)
    assert res.returncode == 74 and "Traceback" not in res.stderr, res.stderr
    assert "Permission denied" in res.stderr and len(res.stderr.strip().splitlines()) <= 2, res.stderr
    assert _tree(home) == before
