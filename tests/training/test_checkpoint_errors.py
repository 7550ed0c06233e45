"""Issue 12: a damaged checkpoint (missing key, truncated, empty) gives one clear line on resume and eval;
--agents above the scenario's count is refused; eval on a file says so."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch as th
import typer
from typer.testing import CliRunner

from reled_sumo.cli.eval import eval_cmd
from reled_sumo.cli.train import train_cmd

ROOT = Path(__file__).resolve().parents[2]
CI = str(ROOT / "reled_sumo" / "data" / "configs" / "ci.yaml")
SAMPLE = str(ROOT / "tests" / "data" / "sample_scenario")
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)
    return app


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ck") / "run"
    res = runner.invoke(_app(), ["train", "--config", CI, "--scenario", SAMPLE, "--out", str(out), "--agents", "3",
                                 "--algo", "ippo", "--steps", "30"])
    assert res.exit_code == 0, res.output
    return out


def _copy(trained: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("*.lock"))
    return run


def _drop(key: str):
    def edit(data):
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        del node[last]
        return data
    return edit


DAMAGE = {
    "no meta": (_drop("meta"), "lacks meta"),
    "no possible_agents": (_drop("meta.possible_agents"), "lacks meta.possible_agents"),
    "no policy": (_drop("hpo.policy"), "lacks hpo.policy"),
    "no run.updates": (_drop("run.updates"), "lacks run.updates"),
    "no rng": (_drop("rng"), "lacks rng"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_checkpoint_missing_a_key_is_a_clear_error_on_eval_and_resume(trained, tmp_path, case):
    edit, message = DAMAGE[case]
    run = _copy(trained, tmp_path)
    ck = run / "checkpoint.pt"
    th.save(edit(th.load(ck, weights_only=True)), ck)
    for args in (["eval", "--run", str(run), "--seeds", "1"],
                 ["train", "--resume", "--out", str(run), "--steps", "60"]):
        res = runner.invoke(_app(), args)
        assert res.exit_code == 2, (args, res.output, res.exception)
        assert message in res.output and "incomplete" in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("size", [0, 100, "half"])
def test_a_truncated_checkpoint_is_a_clear_error(trained, tmp_path, size):
    run = _copy(trained, tmp_path)
    ck = run / "checkpoint.pt"
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2 if size == "half" else size])
    for args in (["eval", "--run", str(run), "--seeds", "1"],
                 ["train", "--resume", "--out", str(run), "--steps", "60"]):
        res = runner.invoke(_app(), args)
        assert res.exit_code == 2, (args, res.output, res.exception)
        text = " ".join(res.output.split())
        assert "truncated, corrupt or not a training checkpoint" in text, text
        assert "Errno 22]" not in text and "reason: )" not in text


def test_eval_on_a_file_says_it_is_a_file(trained):
    res = runner.invoke(_app(), ["eval", "--run", str(trained / "checkpoint.pt"), "--seeds", "1"])
    assert res.exit_code == 2 and "is a file, not a run folder" in " ".join(res.output.split()), res.output


@pytest.mark.parametrize("cmd", ["train", "demo"])
def test_agents_above_the_scenario_count_is_refused(tmp_path, cmd):
    from reled_sumo.cli.app import app

    out = tmp_path / "out"
    if cmd == "train":
        res = runner.invoke(_app(), ["train", "--config", CI, "--scenario", SAMPLE, "--out", str(out),
                                     "--agents", "31", "--algo", "ippo", "--steps", "30"])
    else:
        res = runner.invoke(app, ["demo", "generate", "--scenario", SAMPLE, "--agents", "31", "--rounds", "1",
                                  "--out", str(out)])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "asked to control 31 agents" in text and "has only 30" in text, res.output
    assert not out.exists()
