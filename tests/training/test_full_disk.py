"""Issue 23, items 3, 7 and 10: a full disk during a resume or a checkpoint loses nothing and is one
line with exit code 74; ``--resume --steps`` below the decisions already made is refused.

The full disk is a fault injection: ``open`` (and ``io.open``, which ``pathlib`` uses) return, for
files in the run folder, a file whose ``write`` fails with ``ENOSPC`` as a full disk's does; opening
with ``"w"`` still truncates, as it does on a real full disk. ``torch.save`` really writes to
``/dev/full``, the device that answers every write with ``ENOSPC``."""
from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import pytest
import torch as th
import typer
from typer.testing import CliRunner

from reled_sumo.cli.train import train_cmd
from reled_sumo.training.rundir import LOCK

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--config", str(ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml"), "--agents", "4", "--algo", "ippo",
        "--scenario", str(ROOT / "tests" / "data" / "sample_scenario"))
runner = CliRunner()


def _train(*args: str):
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    return runner.invoke(app, ["train", *FAST, *args])


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file() and f.name != LOCK}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    res = _train("--out", str(out), "--steps", "40")
    assert res.exit_code == 0, res.output
    return out


class _NoSpace:
    """A file open for writing on a full disk: every non-empty write fails with ENOSPC."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        if data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return 0

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _fill_disk(monkeypatch, folder: Path, names: tuple[str, ...] | None) -> None:
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            p = Path(os.fspath(file))
            if p.resolve().parent == folder.resolve() and (names is None or any(n in p.name for n in names)):
                return _NoSpace(f)
        return f

    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(io, "open", full_open)


@pytest.mark.parametrize("names", [("log.txt", "progress.csv"), None], ids=["logs", "every-file"])
def test_resume_on_a_full_disk_loses_nothing(trained, tmp_path, monkeypatch, names):
    run = tmp_path / "run"
    run.mkdir()
    for f in trained.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    before = _tree(run)
    with monkeypatch.context() as m:
        _fill_disk(m, run, names)
        res = _train("--out", str(run), "--steps", "200", "--resume")
    assert res.exit_code == 74, res.output
    assert "No space left on device" in res.output and "Traceback" not in res.output
    assert _tree(run) == before  # log.txt, progress.csv and config.yaml whole; no temporary file left
    res = _train("--out", str(run), "--steps", "200", "--resume")  # with space again, the resume works
    assert res.exit_code == 0, res.output
    log = (run / "log.txt").read_bytes()
    assert log.startswith(before["log.txt"]) and b"resumed after update" in log


def test_resume_with_fewer_steps_than_done_is_refused(trained, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for f in trained.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    before = _tree(run)
    res = _train("--out", str(run), "--steps", "10", "--resume")
    assert res.exit_code == 2 and "already made" in res.output, res.output
    assert _tree(run) == before


def test_a_full_disk_during_torch_save_is_exit_74_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_save = th.save

    def save_on_full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04partial")  # what a writer leaves before the disk fills
        return real_save(obj, "/dev/full", *args, **kwargs)

    monkeypatch.setattr(th, "save", save_on_full_disk)
    out = tmp_path / "run"
    res = _train("--out", str(out), "--steps", "40")
    assert res.exit_code == 74, res.output
    assert "No space left on device" in res.output and "Traceback" not in res.output
    assert not out.exists() or not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
