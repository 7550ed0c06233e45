"""Options shared by several commands are declared once (reled_sumo/cli/common.py): the same
flag means the same thing, with the same help, wherever it appears."""
from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from reled_sumo.cli.app import app


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out.update(_commands(cmd, f"{prefix}{name} "))
        else:
            out[f"{prefix}{name}"] = cmd
    return out


def _options(flag: str) -> dict[str, Any]:
    cmds = _commands(typer.main.get_command(app))
    return {name: p for name, cmd in cmds.items() for p in cmd.params
            if p.param_type_name == "option" and flag in p.opts}


def test_first_n_agents_is_one_option():
    # --agents as "the first N agents"; `scenario build/import`, `train` (N or all) and `bench env`
    # (a comma list) take other forms and say so in their own help
    first_n = {"watch", "demo generate", "bench workers", "bench train", "bench llm"}
    opts = _options("--agents")
    assert first_n <= set(opts)
    assert len({opts[n].help for n in first_n}) == 1, {n: opts[n].help for n in first_n}
    assert all("first N agents" in opts[n].help and "max_agents" in opts[n].help for n in first_n)
    assert all("first N" not in p.help for n, p in opts.items() if n not in first_n | {"train"})


def test_scenario_option_has_one_help_where_it_is_required():
    required = {n: p for n, p in _options("--scenario").items() if p.required}
    assert len(required) >= 5 and {p.help for p in required.values()} == {"Built scenario name or folder."}
    assert all("-s" in p.opts for p in _options("--scenario").values())


def test_agents_zero_is_refused_before_anything_runs():
    res = CliRunner().invoke(app, ["bench", "workers", "--scenario", "nowhere", "--agents", "0"])
    assert res.exit_code == 2 and "--agents" in res.output
