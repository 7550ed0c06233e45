"""``reled export --format onnx`` and ``reled eval --policy-file``: the ONNX actor acts like the torch one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.deploy.onnx_eval import evaluate_onnx
from reled_sumo.deploy.onnx_policy import OnnxPolicy
from reled_sumo.errors import ConfigError, UserInputError
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.training.config import load_config
from reled_sumo.evaluation.evaluate import evaluate_policy, evaluate_run
from reled_sumo.metrics.results import EvalResult
from reled_sumo.training.onnx_export import export_onnx
from reled_sumo.training.trainer import Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"
runner = CliRunner()
HORIZON = {"horizon": 900.0}  # long enough for the agents to arrive
# BC imitates the routing expert within seconds, so that agents arrive and travel times can be compared
VARIANTS = {"shared": ("bc", "shared"), "per-agent": ("bc", "per-agent"), "mappo": ("mappo", "shared")}


@pytest.fixture(scope="module")
def runs(sample_scenario, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, (algo, kind) in VARIANTS.items():
        cfg = load_config(CI, {"scenario": str(sample_scenario.path), "algo": algo, "hpo.policy": kind,
                               "env.max_agents": 6, "env.horizon": 240, "total_decisions": 300,
                               "hpo.n_epochs": 8, "hpo.learning_rate": 3e-3})
        out[name] = Trainer(cfg, run_dir=tmp_path_factory.mktemp("runs") / name).run().run_dir
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_onnx_actions_equal_torch_actions_on_recorded_observations(runs, variant, tmp_path):
    run = runs[variant]
    path = export_onnx(run, tmp_path / "policy.onnx")
    policy, meta = load_policy(run)
    onnx_policy = OnnxPolicy(path)
    assert onnx_policy.meta["possible_agents"] == meta["possible_agents"]
    assert onnx_policy.meta["kind"] == VARIANTS[variant][1]
    recorded = []

    def act(obs, idx, mask):
        recorded.append((obs.copy(), idx.copy(), mask.copy()))
        return policy.act(obs, idx, mask, True)

    evaluate_policy(meta["scenario_path"], act, [10_000], meta["env"])
    obs = np.concatenate([r[0] for r in recorded])
    idx = np.concatenate([r[1] for r in recorded])
    mask = np.concatenate([r[2] for r in recorded])
    assert len(obs) > 50 and mask.sum(1).min() >= 1 and (mask.sum(1) < mask.shape[1]).any()
    torch_actions, _, _ = policy.act(obs, idx, mask, True)
    import torch as th

    with th.no_grad():
        torch_logits = policy.action_logits(th.as_tensor(obs), th.as_tensor(idx)).numpy()
    onnx_actions, onnx_logits = onnx_policy.run(obs, idx, mask)
    assert np.array_equal(onnx_actions, np.asarray(torch_actions))
    assert np.all(onnx_logits[~mask] == -1e8)
    diff = np.abs(onnx_logits[mask] - torch_logits[mask]).max()
    print(f"\n{variant}: {len(obs)} decisions, actions equal, max |logit diff| {diff:.2e}")
    assert diff < 1e-4


@pytest.mark.parametrize("variant", ["shared", "per-agent"])
def test_onnx_episode_gives_the_torch_travel_times(runs, variant, tmp_path):
    path = export_onnx(runs[variant], tmp_path / "policy.onnx")
    seeds = [10_000]
    torch_res = evaluate_run(runs[variant], seeds, env_overrides=HORIZON)
    onnx_res = evaluate_onnx(path, seeds, env_overrides=HORIZON)
    # the same result type with the same metrics (censored travel time included; wall time aside)
    assert isinstance(onnx_res, EvalResult) and onnx_res.per_seed == torch_res.per_seed
    assert onnx_res.per_seed[0].arrival_rate > 0 and np.isfinite(onnx_res.per_seed[0].censored_travel_time)
    assert (onnx_res.scenario, onnx_res.scenario_hash) == (torch_res.scenario, torch_res.scenario_hash)


def test_cli_export_and_eval_policy_file_import_no_torch(runs, tmp_path):
    out = tmp_path / "p.onnx"
    r = runner.invoke(app, ["export", "--run", str(runs["shared"]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "shared policy, 6 agents" in " ".join(r.output.split())
    code = ("import sys, atexit\n"
            "atexit.register(lambda: print('TORCH_LOADED', 'torch' in sys.modules))\n"
            "from reled_sumo.cli.app import main\n"
            f"sys.argv = ['reled', 'eval', '--policy-file', {str(out)!r}, '--seeds', '1']\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "onnxruntime" in proc.stdout and "10000" in proc.stdout
    assert "TORCH_LOADED False" in proc.stdout


def test_bad_policy_files(runs, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    with pytest.raises(UserInputError, match="does not exist"):
        OnnxPolicy(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(UserInputError, match="not a readable ONNX model"):
        OnnxPolicy(junk)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])), plain)
    with pytest.raises(UserInputError, match="not a reled policy"):
        OnnxPolicy(plain)
    r = runner.invoke(app, ["eval", "--policy-file", str(plain)])
    assert r.exit_code == 2 and "not a reled policy" in r.output
    r = runner.invoke(app, ["export", "--run", str(runs["shared"]), "--format", "tflite"])
    assert r.exit_code == 2 and "unknown export format" in r.output
    r = runner.invoke(app, ["export", "--run", str(tmp_path / "no_run")])
    assert r.exit_code != 0 and "Traceback" not in r.output


def test_per_agent_policy_refuses_other_agents_and_bad_shapes(runs, tmp_path):
    path = export_onnx(runs["per-agent"], tmp_path / "policy.onnx")
    with pytest.raises(ConfigError, match="per-agent policy for 6 agents"):
        evaluate_onnx(path, 1, env_overrides={"max_agents": 3})
    pol = OnnxPolicy(path)
    with pytest.raises(ConfigError, match="agent_index"):
        pol.act(np.zeros((1, pol.obs_dim)), np.array([6]), np.ones((1, pol.n_actions), bool))
    with pytest.raises(ConfigError, match="observations"):
        pol.act(np.zeros((1, pol.obs_dim + 1)), np.array([0]), np.ones((1, pol.n_actions), bool))
    meta = json.loads(pol.session.get_modelmeta().custom_metadata_map["reled"])
    assert meta["n_agents"] == 6 and meta["scenario_hash"]
