"""Bundled configs and suites by name (``--config default``, ``--suite small``), and what a bad name says."""
from __future__ import annotations

import pytest

from reled_sumo.bench.suite import load_suite
from reled_sumo.errors import ConfigError
from reled_sumo.training.config import load_config


def test_bundled_config_by_name_is_the_packaged_file():
    assert load_config("ci").total_decisions < load_config("default").total_decisions


def test_the_old_checkout_path_points_to_the_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"use 'default'"):
        load_config("configs/default.yaml")
    with pytest.raises(ConfigError, match=r"use 'small'"):
        load_suite("configs/suite_small.yaml")


@pytest.mark.parametrize("name", ["nope", "../default", "default.yaml", "", "suite_small", "/etc/passwd.yaml"])
def test_unknown_or_path_like_names_are_refused_with_the_bundled_list(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"bundled: ci, default"):
        load_config(name)


def test_a_users_file_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("total_decisions: 1234\n")
    assert load_config("default").total_decisions == 1234


def test_suite_names_do_not_reach_configs():
    with pytest.raises(ConfigError, match="not a bundled suite"):
        load_suite("default")
