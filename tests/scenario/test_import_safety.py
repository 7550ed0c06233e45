"""Issue 23, item 1: `reled scenario import` has `scenario build`'s safeguards (one shared safe-write path).

A target that is not a scenario is refused, a `.building`-suffixed scenario is never taken for a
work folder, an existing scenario is only replaced with --replace, one writer per name, and a
refusal leaves nothing behind."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.scenario import resolve_scenario

from test_import import make_sumo_scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Path:
    return make_sumo_scenario(tmp_path_factory.mktemp("user") / "city")


def _import(cfg: Path, name: str, *extra: str):
    return runner.invoke(app, ["scenario", "import", "--sumocfg", str(cfg), "--name", name, *extra])


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def _entries(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "scenarios").iterdir())


def _clean(res) -> None:
    assert "Traceback" not in res.output and "error:" in res.output, res.output


def test_a_folder_that_is_not_a_scenario_is_refused_and_kept(cfg, home):
    foreign = home / "scenarios" / "notascn"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("mine")
    res = _import(cfg, "notascn", "--agents", "5")
    assert res.exit_code == 2 and "not a scenario folder" in res.output, res.output
    _clean(res)
    assert _tree(foreign) == {"mine.txt": b"mine"}
    assert _entries(home) == ["notascn"]  # no work folder, no lock file left


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_a_symlink_or_file_name_is_refused_with_no_leftovers(cfg, home, tmp_path, kind):
    (home / "scenarios").mkdir(parents=True)
    target = home / "scenarios" / "odd"
    if kind == "symlink":
        real = tmp_path / "elsewhere"
        real.mkdir()
        (real / "keep.txt").write_text("keep")
        target.symlink_to(real)
    else:
        target.write_text("x")
    res = _import(cfg, "odd", "--agents", "5")
    assert res.exit_code == 2, res.output
    _clean(res)
    assert _entries(home) == ["odd"]
    if kind == "symlink":
        assert _tree(tmp_path / "elsewhere") == {"keep.txt": b"keep"}
    else:
        assert target.read_text() == "x"


def test_a_building_suffixed_scenario_is_never_taken_for_a_work_folder(cfg, home):
    assert _import(cfg, "zz.building", "--agents", "5").exit_code == 0
    before = _tree(home / "scenarios" / "zz.building")
    res = _import(cfg, "zz", "--agents", "5")
    assert res.exit_code == 0, res.output
    assert _tree(home / "scenarios" / "zz.building") == before
    assert resolve_scenario("zz.building").scenario_hash == resolve_scenario("zz").scenario_hash
    assert _entries(home) == ["zz", "zz.building"]


def test_an_existing_scenario_is_only_replaced_with_replace(cfg, home):
    assert _import(cfg, "kcopy", "--agents", "5").exit_code == 0
    sc = resolve_scenario("kcopy")
    before = _tree(sc.path)
    res = _import(cfg, "kcopy", "--agents", "6")
    assert res.exit_code == 2 and "--replace" in res.output, res.output
    _clean(res)
    assert _tree(sc.path) == before
    assert "cache hit" in _import(cfg, "kcopy", "--agents", "5").output
    res = _import(cfg, "kcopy", "--agents", "6", "--replace")
    assert res.exit_code == 0, res.output
    assert len(resolve_scenario("kcopy").agents) == 6
    assert _entries(home) == ["kcopy"]


def test_a_second_import_of_the_same_name_is_refused_while_one_runs(cfg, home):
    """The lock another process holds (here: this test, as a real flock on the lock file)."""
    (home / "scenarios").mkdir(parents=True)
    fd = os.open(home / "scenarios" / ".twice.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        res = _import(cfg, "twice", "--agents", "5")
        assert res.exit_code == 2 and "another reled process (pid 4242)" in res.output, res.output
        _clean(res)
        assert _entries(home) == [".twice.lock"]
    finally:
        os.close(fd)
    assert _import(cfg, "twice", "--agents", "5").exit_code == 0  # the lock died with its holder
    assert _entries(home) == ["twice"]


def test_an_empty_or_unsafe_name_is_refused(cfg, home):
    for bad in ("", "../up", ".hidden"):
        res = _import(cfg, bad, "--agents", "5")
        assert res.exit_code == 2, (bad, res.output)
        _clean(res)
    assert not (home / "scenarios").exists()


def test_build_refuses_an_empty_name_instead_of_ignoring_it(home):
    res = runner.invoke(app, ["scenario", "build", "kotka", "--name", "", "--agents", "2"])
    assert res.exit_code == 2 and "name" in res.output, res.output
    assert not home.exists()
