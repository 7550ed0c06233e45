"""Ray is an optional extra: the package works without it, and asking for it says how to install it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.training.config import load_config

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


def test_nothing_imports_ray_until_a_ray_pool_is_built():
    code = ("import sys, reled_sumo.cli.app, reled_sumo.training.trainer, reled_sumo.training.ray_workers, "
            "reled_sumo.bench.workers, reled_sumo.bench.suite, reled_sumo.bench.suite_exec; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_ray_without_ray_names_the_extra(no_ray):
    from reled_sumo.training.ray_workers import RayWorkerPool, import_ray

    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed: pip install -e \"\.\[ray\]\""):
        import_ray()
    with pytest.raises(ConfigError, match="not installed"):
        RayWorkerPool("kotka", {}, n_workers=1)


def test_cli_train_with_ray_address_but_no_ray_is_one_line(kotka_small, tmp_path, no_ray):
    import typer
    from typer.testing import CliRunner

    from reled_sumo.cli.train import train_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_cmd)
    res = CliRunner().invoke(app, ["train", "--config", str(CI), "--scenario", str(kotka_small.path), "--out",
                                   str(tmp_path / "run"), "--agents", "3", "--algo", "ippo", "--steps", "20",
                                   "--workers", "2", "--ray-address", "local"])
    assert res.exit_code == 2, res.output
    assert "needs Ray" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("overrides, message", [
    ({"ray_address": "local"}, "rollout_workers >= 1"),            # Ray without workers
    ({"ray_address": "  ", "rollout_workers": 2}, "non-empty address"),
    ({"ray_address": 6379, "rollout_workers": 2}, "ray_address"),   # not a string
    ({"ray_address": True, "rollout_workers": 2}, "ray_address"),
])
def test_bad_ray_address_is_a_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CI, overrides)


@pytest.mark.parametrize("backends", [("processes",), (), ("process", "mpi")])
def test_bench_workers_rejects_unknown_backends(backends):
    from reled_sumo.bench.workers import bench_workers
    from reled_sumo.errors import UserInputError

    with pytest.raises(UserInputError, match="backends must be among process, ray"):
        bench_workers("kotka", (1,), episodes=1, backends=backends)


def test_ray_address_defaults_to_the_process_pool():
    assert load_config(CI, {}).ray_address is None
    assert load_config(CI, {"ray_address": "auto", "rollout_workers": 2}).ray_address == "auto"
