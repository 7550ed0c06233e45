"""`reled bench learn`: suite specs, CI math (steps to threshold, aggregation), transfer, the ci suite end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from reled_sumo.errors import ConfigError
from reled_sumo.bench import suite as S
from reled_sumo.bench import suite_report as R
from reled_sumo.bench.suite_report import run_and_report


# ------------------------------------------------------------------ curves and thresholds
def test_rolling_mean_is_trailing_with_nan_warm_up():
    r = R.rolling_mean([1.0, 2.0, 3.0, 4.0], 2)
    assert math.isnan(r[0]) and r[1:].tolist() == [1.5, 2.5, 3.5]
    assert np.isnan(R.rolling_mean([1.0], 3)).all()


def test_rolling_mean_for_plots_starts_at_the_first_row():
    """A run with fewer updates than the window still has a curve (issue 16: IPPO runs with 3
    updates and a window of 3 were a single point and vanished from the plots)."""
    assert R.rolling_mean([4.0, 2.0, 3.0], 3, min_periods=1).tolist() == [4.0, 3.0, 3.0]
    assert R.rolling_mean([4.0, 2.0], 3, min_periods=1).tolist() == [4.0, 3.0]
    r = R.rolling_mean([4.0, 2.0, 3.0, 7.0], 3, min_periods=2)
    assert math.isnan(r[0]) and r[1:].tolist() == [3.0, 3.0, 4.0]


def test_steps_to_threshold_on_a_hand_made_curve():
    x = [100, 200, 300, 400, 500, 600]
    y = [300, 280, 260, 240, 220, 200]  # rolling(2): nan, 290, 270, 250, 230, 210
    assert R.steps_to_threshold(x, y, 250.0, 2) == 400  # first rolling mean <= 250
    assert R.steps_to_threshold(x, y, 249.9, 2) == 500
    assert R.steps_to_threshold(x, y, 280.0, 1) == 200  # window 1: the raw curve
    assert math.isnan(R.steps_to_threshold(x, y, 100.0, 2))  # never reached
    assert R.steps_to_threshold(x, [250, np.nan, 240, 230, 220, 210], 245.0, 2) == 400  # windows with a NaN never count


def test_final_level_and_thresholds_average_the_threshold_methods_final_levels():
    assert R.final_level([5.0, np.nan, 4.0, 2.0], 2) == 3.0
    assert R.final_level([7.0], 5) == 7.0 and math.isnan(R.final_level([np.nan], 2))
    spec = S.load_suite("ci")
    curves = {("c", 8, "ippo", 0): {R.COL_Y: np.array([9.0, 4.0, 2.0])},
              ("c", 8, "ippo", 1): {R.COL_Y: np.array([9.0, 6.0, 4.0])},
              ("c", 8, "reled", 0): {R.COL_Y: np.array([1.0, 1.0, 1.0])}}
    assert R.thresholds(spec, curves) == {("c", 8): pytest.approx((3.0 + 5.0) / 2)}  # window 2


# ------------------------------------------------------------------ aggregation
def _sample(kind, method, value, seed=0, city="c", agents=8, target=None):
    return R.Sample(kind, city, agents, method, seed, target, {"mean_travel_time": value})


def test_aggregate_groups_and_computes_student_t_ci():
    samples = [_sample("train", "ippo", v, s) for s, v in enumerate((1.0, 2.0, 3.0))]
    samples += [_sample("train", "reled", 10.0), _sample("train", "reled", np.nan, 1)]
    samples += [_sample("gen", "ippo", 99.0, target="c-d070")]
    agg = R.aggregate(samples, "mean_travel_time")
    assert set(agg) == {("c", 8, "ippo"), ("c", 8, "reled")}  # gen samples excluded by kind
    e = agg[("c", 8, "ippo")]
    assert (e.mean, e.n, e.std) == (2.0, 3, 1.0)
    assert e.half_width == pytest.approx(4.302652729911275 / math.sqrt(3))  # t_{0.975, 2} * s / sqrt(n)
    r = agg[("c", 8, "reled")]
    assert (r.mean, r.n) == (10.0, 1) and not r.defined  # NaN dropped, CI undefined with n = 1
    g = R.aggregate(samples, "mean_travel_time", ("method", "target"), ("gen",))
    assert g[("ippo", "c-d070")].mean == 99.0


def _record(kind, values, seed=None):
    per_seed = [{"seed": 10000 + i, "n_agents": 8, "mean_travel_time": v, "p95_travel_time": v,
                 "arrival_rate": 1.0, "mean_waiting_time": 0.0, "teleports": 0, "mean_return": -1.0,
                 "unfinished": 0, "not_departed": 0, "censored_travel_time": v, "wall_seconds": 0.1}
                for i, v in enumerate(values)]
    return {"task": {"kind": kind, "city": "c", "agents": 8, "method": "m", "seed": seed, "target": None},
            "train": {"wall_seconds": 3.0, "decisions_per_s": 100.0} if kind == "train" else None,
            "eval": {"method": "m", "scenario": "c", "scenario_hash": "h", "per_seed": per_seed, "meta": {}}}


def test_record_samples_one_per_run_and_one_per_reference_seed():
    (run,) = R.record_samples(_record("train", [10.0, 20.0], seed=3))
    assert run.values["mean_travel_time"] == 15.0 and run.values["train_wall_s"] == 3.0 and run.seed == 3
    refs = R.record_samples(_record("ref", [10.0, 20.0]))
    assert [s.values["mean_travel_time"] for s in refs] == [10.0, 20.0]


# ------------------------------------------------------------------ transfer across K / agent counts
class _Spy:
    def act(self, obs, idx, mask, deterministic):
        self.seen = (obs, idx, mask, deterministic)
        return np.zeros(len(obs), dtype=np.int64), np.zeros(len(obs)), np.zeros(len(obs))


@pytest.mark.parametrize("k_env", [3, 4, 5])
def test_transfer_act_pads_or_truncates_candidates_and_wraps_agent_index(k_env):
    from reled_sumo.env.observation import N_CAND, N_OWN, obs_size

    spy = _Spy()
    act = S.transfer_act(spy, {"n_actions": 4, "possible_agents": ["a", "b"]})
    obs = np.arange(2 * obs_size(k_env), dtype=np.float32).reshape(2, -1)
    act(obs, np.array([0, 3]), np.ones((2, k_env), dtype=bool))
    o, idx, mask, det = spy.seen
    assert o.shape == (2, obs_size(4)) and mask.shape == (2, 4) and det is True
    assert idx.tolist() == [0, 1]
    k = min(k_env, 4)
    np.testing.assert_array_equal(o[:, : N_OWN + k * N_CAND], obs[:, : N_OWN + k * N_CAND])
    assert mask[:, :k].all() and not mask[:, k:].any() and not o[:, N_OWN + k * N_CAND:].any()


# ------------------------------------------------------------------ specs
@pytest.mark.parametrize("name", ["ci", "small", "focus", "paper"])
def test_bundled_suites_load_and_validate(name):
    spec = S.load_suite(name)
    assert len(spec.seeds) >= (5 if name == "paper" else 2)
    tasks = S.plan(spec)
    assert len({t.key for t in tasks}) == len(tasks)
    if name in ("small", "paper"):
        assert {m.algo for m in spec.methods} == {"reled", "ippo", "mappo", "bc"}
    if name == "paper":
        assert set(spec.references) == {"random", "shortest", "routing", "sumo-rerouting", "due"}


@pytest.mark.parametrize("name", ["small", "focus", "ablation", "budget"])
def test_learning_suites_train_every_learner_from_the_prior_in_the_busy_period(name):
    """The learning issue's benchmark: every method from the same prior and agents, and the
    references its goals name (routing expert, SUMO rerouting, the agents-only equilibrium)."""
    spec = S.load_suite(name)
    assert {"shortest", "routing", "sumo-rerouting", "agents-eq"} <= set(spec.references)
    for task in (t for t in S.plan(spec) if t.kind == "train"):
        cfg = S.run_config(spec, task)
        assert cfg.env.agent_selection == "busy" and cfg.env.max_agents == task.agents
        if name == "small":  # the 2026-12 learner: residual in seconds, annealed temperature, budget in updates
            assert (cfg.hpo.prior_tau, cfg.hpo.prior_tau_final, cfg.hpo.residual_s) == (2.0, 1.0, 30.0)
            assert cfg.hpo.weight.gate == "greedy" and cfg.env.live_estimate == "speed_window"
            assert cfg.total_updates == spec.budget_updates == 100 and spec.eval_seeds >= 20
        else:
            assert cfg.hpo.prior_tau == (0.0 if task.method.endswith("noprior") else 5.0)
            assert cfg.total_decisions == spec.budget


def test_invalid_suites_are_refused():
    base = json.loads(json.dumps(S.load_suite("ci"), default=lambda o: o.__dict__))
    with pytest.raises(ConfigError, match="unknown algo"):
        S.suite_from_dict({**base, "methods": [{"name": "x", "algo": "dqn"}]})
    with pytest.raises(ConfigError, match="generalization"):
        S.suite_from_dict({**base, "generalization": {**base["generalization"], "train_city": "nowhere"}})
    with pytest.raises(ConfigError, match="unknown config key"):
        S.suite_from_dict({**base, "methods": [*base["methods"], {"name": "x", "algo": "ippo", "set": {"hpo.nope": 1}}]})


# ------------------------------------------------------------------ the ci suite, end to end
def test_ci_suite_runs_end_to_end_then_resumes_by_skipping(kotka_small, tmp_path):
    from reled_sumo.cli.bench_learn import learn_cmd

    spec, out = S.load_suite("ci"), tmp_path / "suite"
    first, _ = run_and_report(spec, out)
    tasks = S.plan(spec)
    assert len(first.ran) == len(tasks) and not first.skipped
    assert all(S.result_path(out, t).is_file() for t in tasks)
    md = (out / "report.md").read_text()
    for text in ("| ippo |", "| reled |", "| shortest |", "Generalization", "kotka-ci-d070", "kotka-ci-d130"):
        assert text in md, text
    assert (out / "curves_kotka-ci_n8.png").is_file()
    first_train = next(t for t in tasks if t.kind == "train")
    rec = json.loads(S.result_path(out, first_train).read_text())
    assert rec["train"]["decisions"] >= spec.budget and len(rec["eval"]["per_seed"]) == spec.eval_seeds

    again = S.run_suite(spec, out)  # resume: every result exists -> nothing runs
    assert not again.ran and len(again.skipped) == len(tasks)

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("learn")(learn_cmd)
    res = CliRunner().invoke(app, ["learn", "--suite", "ci", "--out", str(out), "--dry-run"])
    assert res.exit_code == 0 and f"{len(tasks)} done, 0 to do" in res.output


def test_plan_runs_references_first_then_whole_seeds_with_their_generalization():
    spec = S.load_suite("ci")
    tasks = S.plan(spec)
    kinds = [t.kind for t in tasks]
    assert kinds[: kinds.index("train")] == ["ref"] * kinds.index("train") and "ref" not in kinds[kinds.index("train"):]
    seeds = [t.seed for t in tasks if t.seed is not None]
    assert seeds == sorted(seeds)  # seed-major: an interrupted suite has whole seeds
    pos = {t: i for i, t in enumerate(tasks)}
    gens = [t for t in tasks if t.kind == "gen"]
    assert gens and all(pos[S.depends_on(t)] < pos[t] for t in gens)
    assert all(S.depends_on(t) is None for t in tasks if t.kind != "gen")


def test_band_is_mean_and_ci_on_a_shared_grid():
    grid = np.array([0.0, 5.0, 10.0, 20.0])
    xs = [np.array([0.0, 10.0]), np.array([0.0, 10.0, 20.0])]
    ys = [np.array([4.0, 2.0]), np.array([6.0, 4.0, 0.0])]
    mean, lo, hi = R.band(xs, ys, grid)
    np.testing.assert_allclose(mean, [5.0, 4.0, 3.0, 0.0])  # run 1 ends at 10: only run 2 at x = 20
    assert lo[0] < 5.0 < hi[0] and lo[3] == hi[3] == 0.0
