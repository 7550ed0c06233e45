"""Checkpoints: a stopped and resumed run ends exactly where an unstopped one does."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch as th

from reled_sumo.training import checkpoint as ck
from reled_sumo.training.config import load_config
from reled_sumo.training.trainer import TrainCallback, Trainer

CI = Path(__file__).resolve().parents[2] / "reled_sumo" / "data" / "configs" / "ci.yaml"


class StopAt(TrainCallback):
    def __init__(self, update: int):
        self.update = update

    def on_update(self, report) -> None:
        if report.update == self.update:
            raise KeyboardInterrupt


def _cfg(scenario, **extra):
    # reled with a demo refresh at update 3: the resumed half has to redo SED identically
    base = {"scenario": str(scenario.path), "env.max_agents": 5, "env.horizon": 240, "total_decisions": 300,
            "sed_every": 2, "sed.rounds": 2, "hpo.n_epochs": 2}
    return load_config(CI, {**base, **extra})


def test_resume_reproduces_the_unstopped_run_exactly(kotka_small, tmp_path):
    cfg = _cfg(kotka_small)
    straight = Trainer(cfg, run_dir=tmp_path / "straight").run()
    assert straight.updates >= 4
    half = straight.updates // 2
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, run_dir=tmp_path / "split", callback=StopAt(half)).run()
    assert ck.load_checkpoint(tmp_path / "split")["run"]["updates"] == half
    resumed = Trainer(cfg, run_dir=tmp_path / "split", resume=True).run()
    assert (resumed.updates, resumed.decisions, resumed.episodes) == (straight.updates, straight.decisions,
                                                                      straight.episodes)
    a, b = ck.load_checkpoint(tmp_path / "straight"), ck.load_checkpoint(tmp_path / "split")
    assert a["expert"]["version"] == b["expert"]["version"]
    # a refresh ran after the stop and decided the same way (it is kept only if it beats the teacher)
    import csv

    def refreshes(run):
        with open(tmp_path / run / "progress.csv") as fh:
            return [(i, r["sed/candidate_travel_time"], r["sed/refresh_accepted"]) for i, r in enumerate(csv.DictReader(fh))
                    if r.get("sed/candidate_travel_time")]

    assert refreshes("straight") == refreshes("split") and any(i >= half for i, _, _ in refreshes("split"))
    for name, p in a["hpo"]["policy"].items():
        assert th.equal(p, b["hpo"]["policy"][name]), name
    assert th.equal(a["rng"]["torch"], b["rng"]["torch"])
    sa, sb = a["hpo"]["optimizer"]["state"], b["hpo"]["optimizer"]["state"]
    assert all(th.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    rows = (tmp_path / "split" / "progress.csv").read_text().splitlines()
    assert len(rows) == 1 + straight.updates


def test_resume_can_extend_the_budget(kotka_small, tmp_path):
    cfg = _cfg(kotka_small, algo="ippo", total_decisions=60)
    first = Trainer(cfg, run_dir=tmp_path / "r").run()
    more = Trainer(_cfg(kotka_small, algo="ippo", total_decisions=first.decisions + 1), run_dir=tmp_path / "r",
                   resume=True).run()
    assert more.updates == first.updates + 1


def test_rng_state_round_trip_is_weights_only_loadable(tmp_path):
    gen = np.random.default_rng(123)
    gen.random(5)
    saved = {"format": ck.FORMAT, "rng": ck.capture_rng(), "gen": ck.generator_state(gen)}
    ck.atomic_save(saved, tmp_path / "x.pt")
    expected = (th.rand(3), np.random.random(3), random.random(), gen.random(3))
    data = th.load(tmp_path / "x.pt", weights_only=True)
    ck.restore_rng(data["rng"])
    ck.set_generator_state(gen, data["gen"])
    got = (th.rand(3), np.random.random(3), random.random(), gen.random(3))
    assert th.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2] and np.array_equal(expected[3], got[3])
    assert not (tmp_path / "x.pt.tmp").exists()
