"""Every CLI table reads whole at 80 columns, and is plain text when stdout is not a terminal
(issue 24, item 6). The tables are built by the commands' own functions, with realistic values."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from rich.console import Console

from reled_sumo.cli.common import show_table

BOX = re.compile(r"[\u2500-\u257f]")  # box-drawing characters


def _env_rows():
    from reled_sumo.cli.bench import ENV_NARROW

    vals = {"agents": 100, "backend": "libsumo", "sim_s": 1800.0, "raw_sim_s_per_wall_s": 912.4,
            "env_sim_s_per_wall_s": 301.7, "ratio_env_to_raw": 0.3307, "decisions": 12345, "decisions_per_s": 2071.2,
            "us_per_decision": 482.8, "overhead_us_per_decision": 321.3, "arrival_rate": 0.97}
    return [dict(vals), {**vals, "backend": "traci", "agents": 10}], ENV_NARROW


def _tables():
    from reled_sumo.cli.bench import LABELS, WORKER_NARROW, rows_table
    from reled_sumo.cli.demo import rounds_table
    from reled_sumo.cli.eval import results_table
    from reled_sumo.metrics.results import EvalResult, SeedMetrics

    rows, cols = _env_rows()
    workers = [{"backend": "process", "n_workers": 4, "episodes": 8, "decisions": 40000, "wall_s": 81.25,
                "decisions_per_s": 492.3, "sim_s_per_wall_s": 88.6, "speedup": 1.87, "ratio_to_process": 1.0}]
    rounds = [{"round": i, "mean_travel_time": 312.44, "arrival_rate": 0.98, "mean_bound": 0.1234, "accepted": 17,
               "revised": 3, "llm_calls": 20, "repairs": 2, "fallbacks": 1, "cache_hits": 12, "seconds": 41.3}
              for i in range(3)]
    seed = SeedMetrics(1000, 20, 312.4, 401.2, 0.95, 41.2, 0, -3.2, 1, 0, 330.1, 12.0)
    evals = [EvalResult(m, "kotka", "abc", (seed, seed)) for m in
             ("reled:quickstart-with-a-long-name", "random", "shortest", "live", "routing")]
    return {"bench env": (rows_table("env vs raw SUMO (same scenario, horizon, seed)", rows, cols, LABELS),
                          [LABELS.get(c, c) for c in cols], ["libsumo", "traci", "912", "0.331", "2071"]),
            "bench workers": (rows_table("rollout workers", workers, WORKER_NARROW, LABELS),
                              [LABELS.get(c, c) for c in WORKER_NARROW], ["process", "40000", "81.2", "1.87"]),
            "demo rounds": (rounds_table(rounds), ["round", "travel_s", "arrival", "mean_B", "repair", "fallbk"],
                            ["312.4", "0.98", "0.123", "41.3"]),
            "eval": (results_table(evals), ["method", "travel s", "arrival"],
                     ["shortest", "routing", "330.1±0.0"])}  # travel incl. non-arrived; the long name folds


def _render(table, terminal: bool, width: int = 80) -> str:
    out = Console(file=StringIO(), width=width, force_terminal=terminal, color_system=None)
    show_table(table, out)
    return out.file.getvalue()


@pytest.mark.parametrize("name", ["bench env", "bench workers", "demo rounds", "eval"])
def test_tables_read_whole_at_80_columns(name):
    table, headers, cells = _tables()[name]
    text = _render(table, terminal=True)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text, text
    words = set(re.split(r"[\s│┃]+", text))
    for h in headers:  # a header may wrap, but every word of it is there whole
        for w in h.replace("_", " ").split():
            assert w in words, f"{w!r} of {h!r} cut:\n{text}"
    flat = re.sub(r"\s+", "", BOX.sub("", text))
    for c in cells:
        assert c in flat, f"{c!r} missing:\n{text}"
    # nothing lost: every character of the title, the headers and the cells is printed
    strings = [table.title or ""] + [str(col.header) for col in table.columns] + \
        [str(v) for col in table.columns for v in col._cells]
    assert len(re.sub(r"[\s_]", "", flat)) == sum(len(re.sub(r"[\s_]", "", v)) for v in strings)


@pytest.mark.parametrize("name", ["bench env", "bench workers", "demo rounds", "eval"])
def test_tables_are_plain_text_when_stdout_is_not_a_terminal(name):
    table, headers, cells = _tables()[name]
    text = _render(table, terminal=False)
    assert not BOX.search(text) and "…" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1 + 1 + table.row_count  # title, header, rows
    for h in headers:
        assert h in lines[1]
    for c in cells:
        assert c in text


def test_a_table_without_header_is_plain_key_value_lines():
    from rich.table import Table

    def table():
        t = Table(title="training run runs/quickstart", show_header=False)
        for k, v in (("updates", "12"), ("checkpoint", "runs/a-rather-long-folder-name/of-a-run/" * 2 + "ckpt.pt")):
            t.add_row(k, v)
        return t

    text = _render(table(), terminal=False)
    assert not BOX.search(text) and text.splitlines()[1].split() == ["updates", "12"]
    wrapped = _render(table(), terminal=True)
    assert max(len(line) for line in wrapped.splitlines()) <= 80 and "…" not in wrapped
    assert re.sub(r"\s", "", wrapped).count("ckpt.pt") == 1
