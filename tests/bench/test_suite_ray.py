"""`reled bench learn --ray-address`: suite tasks as Ray tasks on a real local Ray (loopback).

The same results as the process pool for the same seeds, a killed task named in one line and
resumed by a rerun, a failing task named the same way on every executor, and hostile options.
The Ray tests are skipped where Ray is not installed (the `local_ray` fixture).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reled_sumo.bench import suite as S
from reled_sumo.errors import SuiteTaskError

ROOT = Path(__file__).resolve().parents[2]


def _one_seed_ci() -> S.SuiteSpec:
    """The ci suite cut to reled, seed 0 and one demand scale: 2 references, 1 training run, 1 transfer."""
    base = json.loads(json.dumps(S.load_suite("ci"), default=lambda o: o.__dict__))
    gen = {**base["generalization"], "demand_scales": [0.7]}
    reled = [m for m in base["methods"] if m["name"] == "reled"]
    return S.suite_from_dict({**base, "seeds": [0], "methods": reled, "generalization": gen})


def _outcome(out: Path, task: S.Task) -> list[dict]:
    """A task's evaluation episodes without their wall times."""
    rec = json.loads(S.result_path(out, task).read_text())
    return [{k: v for k, v in ep.items() if k != "wall_seconds"} for ep in rec["eval"]["per_seed"]]


def _task_pids(title: str = "ray::_on_node") -> list[int]:
    """Ray workers name their process after the task they run."""
    pids = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmd.read_bytes().startswith(title.encode()):
                pids.append(int(cmd.parent.name))
        except OSError:
            continue
    return pids


def _kill_when(path: Path, within_s: float = 120.0) -> int:
    """SIGKILL the one running Ray task once ``path`` exists; returns its pid."""
    deadline = time.monotonic() + within_s
    while not path.is_file():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    (pid,) = _task_pids()
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.slow  # ~45 s on the loaded 2-core machine: 4 tasks on processes, then twice on Ray
def test_ray_tasks_equal_the_process_pool_and_a_killed_task_resumes(reled_home, tmp_path, local_ray):
    spec = _one_seed_ci()
    tasks = S.plan(spec)
    train = next(t for t in tasks if t.kind == "train")
    S.run_suite(spec, tmp_path / "proc", jobs=2)

    out, box = tmp_path / "ray", {}

    def first_run():
        try:
            S.run_suite(spec, out, jobs=1, ray_address="auto")  # joins the fixture's Ray
        except Exception as exc:  # noqa: BLE001 - checked below
            box["error"] = exc

    runner = threading.Thread(target=first_run)
    runner.start()
    _kill_when(S.run_dir(out, train.city, train.agents, train.method, train.seed) / "checkpoint.pt")
    runner.join(120)
    err = box.get("error")
    assert isinstance(err, SuiteTaskError), err
    assert str(err).startswith(f"suite task {train.key} failed: its Ray worker died") and "\n" not in str(err)
    refs = [t for t in tasks if t.kind == "ref"]
    assert all(S.result_path(out, t).is_file() for t in refs) and not S.result_path(out, train).is_file()

    again = S.run_suite(spec, out, jobs=2, ray_address="auto")
    assert set(again.skipped) == {t.key for t in refs} and set(again.ran) == {t.key for t in tasks} - set(again.skipped)
    assert json.loads(S.result_path(out, train).read_text())["train"]["resumed"] is True
    for t in tasks:  # common seeds -> identical travel times, also after the kill and resume
        assert _outcome(out, t) == _outcome(tmp_path / "proc", t), t.key


@pytest.fixture(scope="module")
def kotka_reference(kotka_small, tmp_path_factory):
    """The shortest-path reference on the session's built `kotka`, run in this process."""
    spec, out = _one_seed_ci(), tmp_path_factory.mktemp("here")
    task = S.Task("ref", kotka_small.name, 8, "shortest")
    S.run_task(spec, out, task)
    return spec, task, _outcome(out, task)


@pytest.mark.parametrize("where", [{"jobs": 1}, {"jobs": 2, "ray_address": "auto"}], ids=["inline", "ray"])
def test_a_failing_task_is_one_line_naming_it_and_running_tasks_finish(kotka_reference, tmp_path, where,
                                                                       request):
    if "ray_address" in where:
        request.getfixturevalue("local_ray")
    spec, good, outcome = kotka_reference
    bad = S.Task("ref", "no-such-city", 8, "shortest")
    finished = []
    with S.executor(where["jobs"], where.get("ray_address")) as ex:
        with pytest.raises(SuiteTaskError) as ei:
            S._execute(spec, tmp_path, [good, bad], ex, finished.append)
    msg = str(ei.value)
    assert msg.startswith("suite task ref/no-such-city/n8/shortest failed: ") and "is not built" in msg
    assert "\n" not in msg and ei.value.exit_code == 2  # the cause's (ScenarioNotBuiltError) exit code
    assert finished == [good] and _outcome(tmp_path, good) == outcome  # same seed, same travel times


# ------------------------------------------------------------------ hostile options
def _learn(args: list[str]):
    from reled_sumo.cli.bench_learn import learn_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("learn")(learn_cmd)
    return CliRunner().invoke(app, ["learn", "--suite", "ci", *args])


@pytest.mark.parametrize("args, message", [
    (["--ray-address", "garbage"], "a Ray cluster address is host:port"),
    (["--ray-address", "host:99999"], "a Ray cluster address is host:port"),
    (["--ray-address", " "], "ray_address must be"),
    (["--ray-address", "local", "--ray-task-cpus", "0"], "CPUs per Ray task must be a finite number > 0"),
    (["--ray-address", "local", "--ray-task-cpus", "nan"], "CPUs per Ray task must be a finite number > 0"),
    (["--ray-address", "local", "--jobs", "0"], "jobs must be an integer >= 1"),
    (["--jobs", "-3"], "jobs must be an integer >= 1"),
])
def test_bad_suite_executor_options_are_one_line(tmp_path, args, message):
    res = _learn(["--out", str(tmp_path / "s"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s" / "results").exists()  # nothing ran


def test_ray_address_without_ray_is_one_line(tmp_path, no_ray):
    res = _learn(["--out", str(tmp_path / "s"), "--ray-address", "local"])
    assert res.exit_code == 2 and "needs Ray, which is not installed" in res.output, res.output
    assert "Traceback" not in res.output


def test_an_unreachable_ray_address_fails_fast_in_one_line(tmp_path):
    pytest.importorskip("ray")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # a fresh process: no Ray initialised in it
    res = subprocess.run([sys.executable, "-m", "reled_sumo.cli.bench_learn", "learn", "--suite", "ci", "--out",
                          str(tmp_path / "s"), "--ray-address", "127.0.0.1:1"], capture_output=True, text=True,
                         env=env, timeout=120)  # ray.init alone would retry for minutes
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach the Ray cluster at '127.0.0.1:1'" in lines[0], res.stderr
