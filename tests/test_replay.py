"""`reled watch --run` replays the run `reled eval` evaluates (issue 24, item 3).

A run trained with settings other than the defaults (``--select busy``, its own busy period,
observation refresh and horizon) is driven once by watch's episode (headless: the same code path
as the GUI, without the window) and once by eval's, on one seed: the same agents must get the
same actions, step by step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import ConfigError

CI = Path(__file__).resolve().parents[1] / "reled_sumo" / "data" / "configs" / "ci.yaml"
SEED = 5


@pytest.fixture(scope="module")
def busy_run(sample_scenario, tmp_path_factory):
    from reled_sumo.training.config import load_config
    from reled_sumo.training.trainer import Trainer

    cfg = load_config(CI, {"scenario": str(sample_scenario.path), "algo": "ippo", "total_decisions": 120,
                           "env.max_agents": 5, "env.horizon": 400, "env.agent_selection": "busy",
                           "env.busy_from_s": 100.0, "env.live_period_s": 60.0})
    return Trainer(cfg, run_dir=tmp_path_factory.mktemp("replay") / "run").run().run_dir


class _Recorder:
    """Wraps a loaded policy; records each decision as {agent name: action}, in call order."""

    def __init__(self, policy, agents):
        self.policy, self.agents, self.steps = policy, list(agents), []

    def act(self, obs, agent_index, mask, deterministic=True):
        out = self.policy.act(obs, agent_index, mask, deterministic)
        self.steps.append({self.agents[int(i)]: int(a) for i, a in zip(agent_index, out[0])})
        return out

    def eval(self):
        return self


def test_watch_and_eval_drive_the_same_agents_with_the_same_actions(busy_run):
    from reled_sumo.evaluation.evaluate import evaluate_loaded
    from reled_sumo.training.checkpoint import load_policy
    from reled_sumo.watch.gui import replay_settings, run_policy, watch

    # eval's episode
    policy, meta = load_policy(busy_run)
    record = RunRecord.from_meta(meta)
    assert record.env.agent_selection == "busy" and record.env.live_period_s == 60.0
    rec = _Recorder(policy, record.agents)
    ev = evaluate_loaded(rec, meta, seeds=[SEED])

    # watch's episode, through the settings `reled watch --run` uses
    factory, wrecord = run_policy(busy_run)
    scenario, options = replay_settings(wrecord)
    seen: dict = {"steps": []}

    def recording(env):
        seen["agents"] = list(env.possible_agents)
        inner = factory(env)

        def act(obs, infos):
            actions = inner(obs, infos)
            if actions:
                seen["steps"].append(dict(actions))
            return actions
        return act

    res = watch(scenario, recording, seed=SEED, headless=True, **options)
    assert seen["agents"] == list(record.agents)
    assert len(rec.steps) > 5
    assert seen["steps"] == rec.steps
    m = ev.per_seed[0]
    assert res.arrived == round(m.arrival_rate * m.n_agents)
    if res.arrived:
        assert np.isclose(res.mean_travel_time, m.mean_travel_time)


def test_the_record_is_written_by_the_trainer_and_carried_into_onnx(busy_run):
    import json

    import torch as th

    from reled_sumo.training.onnx_export import export_onnx
    from reled_sumo.deploy.onnx_policy import OnnxPolicy

    meta = th.load(busy_run / "checkpoint.pt", weights_only=True)["meta"]
    written = RunRecord.from_dict(meta["record"])
    assert written.env.agent_selection == "busy" and written.policy_kind == "shared" and len(written.agents) == 5
    assert written == RunRecord.from_dict(json.loads(json.dumps(written.to_dict())))
    assert OnnxPolicy(export_onnx(busy_run)).record() == written


def test_an_older_checkpoint_without_a_record_reads_the_same(busy_run):
    import torch as th

    meta = dict(th.load(busy_run / "checkpoint.pt", weights_only=True)["meta"])
    written = RunRecord.from_dict(meta.pop("record"))
    assert RunRecord.from_meta(meta) == written


@pytest.mark.parametrize("raw, match", [
    ({"scenario_path": None, "scenario_hash": None, "agents": [], "policy_kind": "shared"}, "invalid run record"),
    ({"scenario": "k", "scenario_path": None, "scenario_hash": None, "agents": [], "policy_kind": "both"}, "kind"),
    ({"scenario": "k", "scenario_path": None, "scenario_hash": None, "agents": "ab", "policy_kind": "shared",
      "env": {"max_agents": -1}}, "max_agents"),
    ({"scenario": "k", "scenario_path": None, "scenario_hash": None, "agents": [], "policy_kind": "shared",
      "env": {"no_such": 1}}, "unknown environment"),
    ({"scenario": "", "scenario_path": None, "scenario_hash": None, "agents": [], "policy_kind": "shared"}, "name"),
])
def test_bad_records_are_config_errors(raw, match):
    with pytest.raises(ConfigError, match=match):
        RunRecord.from_dict(raw)


def test_a_record_whose_folder_is_gone_replays_by_name(tmp_path):
    rec = RunRecord("kotka", str(tmp_path / "gone"), None, ("a",), "shared")
    assert rec.target() == "kotka" and rec.target("other") == "other"
    assert "render_mode" not in rec.env_options() and rec.env_options(max_agents=3)["max_agents"] == 3


@pytest.mark.gui
@pytest.mark.skipif(not __import__("os").environ.get("DISPLAY"), reason="needs a display (run under xvfb-run)")
def test_reled_watch_run_records_the_runs_episode(busy_run, tmp_path):
    """The CLI end to end under a display: --run with --record (the run's record must not shadow the
    recording path), and the arrivals eval counts on the same seed."""
    import re

    from typer.testing import CliRunner

    from reled_sumo.cli.app import app
    from reled_sumo.evaluation.evaluate import evaluate_run

    out = tmp_path / "run.gif"
    res = CliRunner().invoke(app, ["watch", "--run", str(busy_run), "--seed", str(SEED), "--delay", "0",
                                   "--quit-on-end", "--record", str(out), "--record-every", "30"])
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.stat().st_size > 0
    arrived, agents = map(int, re.search(r"(\d+)/(\d+) agents arrived", res.output).groups())
    m = evaluate_run(busy_run, [SEED]).per_seed[0]
    assert agents == m.n_agents == 5 and arrived == round(m.arrival_rate * m.n_agents)
