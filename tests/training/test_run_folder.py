"""Issue 12: `reled train --out` writes only into run folders, one process per run folder, and a
failed start leaves nothing behind."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from reled_sumo.cli.train import train_cmd
from reled_sumo.training.rundir import LOCK, MARKER, RunDir

ROOT = Path(__file__).resolve().parents[2]
CI = str(ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml")
SAMPLE = ROOT / "tests" / "data" / "sample_scenario"
FAST = ("--config", CI, "--agents", "4", "--algo", "ippo")
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    return app


def _train(*args: str):
    return runner.invoke(_app(), ["train", *args])


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def test_out_that_is_a_scenario_folder_is_refused_and_left_intact(tmp_path):
    scen = tmp_path / "scen"
    shutil.copytree(SAMPLE, scen)
    before = _tree(scen)
    res = _train(*FAST, "--scenario", str(SAMPLE), "--out", str(scen), "--steps", "40")
    assert res.exit_code == 2 and "not a reled run folder" in res.output, res.output
    assert _tree(scen) == before


def test_out_that_is_a_non_empty_folder_or_a_file_is_refused(tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"\xff\xd8")
    res = _train(*FAST, "--scenario", str(SAMPLE), "--out", str(other), "--steps", "40")
    assert res.exit_code == 2 and sorted(p.name for p in other.iterdir()) == ["a.jpg"], res.output
    f = tmp_path / "file"
    f.write_text("x")
    res = _train(*FAST, "--scenario", str(SAMPLE), "--out", str(f), "--steps", "40")
    assert res.exit_code == 2 and "is a file" in res.output and f.read_text() == "x", res.output
    assert "Traceback" not in res.output


def test_an_empty_existing_folder_is_accepted_and_marked(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    res = _train(*FAST, "--scenario", str(SAMPLE), "--out", str(out), "--steps", "40")
    assert res.exit_code == 0, res.output
    assert (out / MARKER).is_file() and (out / "checkpoint.pt").is_file()


def test_a_failed_start_leaves_no_stray_files(tmp_path):
    out = tmp_path / "run"
    res = _train(*FAST, "--scenario", "no-such-scenario", "--out", str(out), "--steps", "40")
    assert res.exit_code == 2, res.output
    assert not out.exists()
    kept = tmp_path / "kept"  # a marked folder that existed: only what this run wrote goes
    kept.mkdir()
    (kept / MARKER).write_text("{}\n")
    (kept / "notes.md").write_text("mine")
    res = _train(*FAST, "--scenario", "no-such-scenario", "--out", str(kept), "--steps", "40")
    assert res.exit_code == 2 and sorted(p.name for p in kept.iterdir() if p.name != LOCK) == [MARKER, "notes.md"]


def _reled(*args: str) -> list[str]:
    return [sys.executable, "-m", "reled_sumo.cli.app", *args]


def _wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_a_second_training_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(_reled("train", *FAST, "--scenario", str(SAMPLE), "--out", str(out), "--steps", "300",
                                    "--seed", "1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (out / "config.yaml").is_file(), 120), first.communicate()
        second = subprocess.run(_reled("train", *FAST, "--scenario", str(SAMPLE), "--out", str(out), "--steps", "40",
                                       "--seed", "2"), capture_output=True, text=True, timeout=300)
        first_out, first_err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert "in use by another reled process" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "seed: 1" in (out / "config.yaml").read_text()  # the first run's files only
    assert not list(out.glob("*.tmp"))


def test_the_lock_dies_with_its_holder_even_on_kill_9(tmp_path):
    out = tmp_path / "run"
    code = ("import sys, time; from reled_sumo.training.rundir import RunDir; RunDir.claim(sys.argv[1]); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        res = _train(*FAST, "--scenario", str(SAMPLE), "--out", str(out), "--steps", "40")
        assert res.exit_code == 2 and f"pid {holder.pid}" in res.output, res.output
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    claim = RunDir.claim(out)  # the kernel dropped the dead holder's lock
    claim.release(keep=True)


def test_out_under_a_read_only_folder_is_one_line_exit_74(tmp_path):
    """Run as another user when we are root (root ignores permissions); plain chmod otherwise."""
    import tempfile

    ro = Path(tempfile.mkdtemp(prefix="reled-ro-run-"))
    try:
        cmd = _reled("train", *FAST, "--scenario", str(SAMPLE), "--out", str(ro / "run"), "--steps", "40")
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                import pytest

                pytest.skip("root without setpriv")
            ro.chmod(0o755)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        else:
            ro.chmod(0o555)
        env = {**os.environ, "HOME": str(ro), "RELED_HOME": str(ro / "home")}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 74, res.stderr
        assert "Permission denied" in res.stderr and "Traceback" not in res.stderr
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
        shutil.rmtree(ro, ignore_errors=True)


def test_a_failed_start_removes_only_what_the_run_wrote_by_name(tmp_path):
    """Issue 23, item 2: files someone else wrote into the folder while the run started are kept."""
    out = tmp_path / "emptyout"
    out.mkdir()
    claim = RunDir.claim(out)
    (out / "config.yaml").write_text("algo: ippo\n")  # what the run writes
    (out / "log.txt").write_text("started\n")
    (out / "demos").mkdir()
    (out / "demos" / "manifest.json").write_text("{}")
    (out / "my-notes.txt").write_text("mine")  # what the user writes meanwhile
    (out / "my-data").mkdir()
    (out / "my-data" / "a.csv").write_text("1,2\n")
    (out / "demos" / "my-plot.png").write_bytes(b"png")
    claim.release(keep=False)
    kept = {k: v for k, v in _tree(out).items() if k != LOCK}
    assert kept == {"my-notes.txt": b"mine", "my-data/a.csv": b"1,2\n", "demos/my-plot.png": b"png"}
    fresh = tmp_path / "fresh"  # a folder the run made, with only its own files: removed entirely
    claim = RunDir.claim(fresh)
    (fresh / "config.yaml").write_text("algo: ippo\n")
    claim.release(keep=False)
    assert not fresh.exists()
