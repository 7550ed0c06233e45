"""The built wheel carries its data: bundled cities, training configs and suites (issue 24, item 1).

The wheel is built from a copy of the source (``pip wheel --no-deps --no-build-isolation``; nothing is
written into the checkout), unpacked into a temporary folder, and used from another folder with only
that copy of ``reled_sumo`` importable ahead of anything else.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
import reled_sumo
from reled_sumo.scenario.registry import bundled, get_recipe
from reled_sumo.bench.suite import load_suite
from reled_sumo.training.config import load_config
rec = get_recipe("kotka")
print(json.dumps({
    "file": reled_sumo.__file__,
    "cities": sorted(bundled()),
    "kotka_agents": rec.demand.agents,
    "suite": load_suite("small").name,
    "default_select": load_config("default").env.agent_selection,
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "reled_sumo", src / "reled_sumo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, timeout=300, capture_output=True)
    (whl,) = out.glob("reled_sumo-*.whl")
    return whl


def test_wheel_lists_the_bundled_yaml_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("reled_sumo/data/cities/kotka.yaml", "reled_sumo/data/cities/helsinki.yaml",
                "reled_sumo/data/configs/default.yaml", "reled_sumo/data/configs/ci.yaml",
                "reled_sumo/data/configs/suite_small.yaml"):
        assert rel in names, f"{rel} missing from {wheel.name}"


def test_unpacked_wheel_finds_cities_suites_and_configs_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RELED_RECIPES")}
    env["PYTHONPATH"] = str(site)
    env["RELED_HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).resolve().is_relative_to(site.resolve())
    assert got["cities"] == ["helsinki", "kotka"]
    assert got["kotka_agents"] == 100
    assert got["suite"] == "small"
    assert got["default_select"] == "busy"
    # the CLI as a user runs it: build the bundled city (a small demand, seconds)
    cli = [sys.executable, "-c", "import sys; from reled_sumo.cli.app import main; sys.argv[0] = 'reled'; main()"]
    res = subprocess.run(cli + ["scenario", "build", "kotka", "--agents", "5", "--background-vehicles", "20",
                                "--duration", "300"], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (tmp_path / "home" / "scenarios" / "kotka" / "scenario.json").is_file()
