"""Method A against method B and `live` on every training seed both have (docs/results.md): each seed
paired with the references on the 20 evaluation seeds; then the training seeds averaged per evaluation
seed (CI over evaluation seeds), and the per-training-seed mean differences (CI over training seeds).

    python seeds.py OUT CITY N [A,B]    # e.g. python seeds.py /work/exp/bench-eq kotka 100 reled,ippo
                                        # (A,B defaults to reled-eq-emb,ippo-emb)
"""
import json
import sys
from pathlib import Path

import numpy as np

from reled_sumo.evaluation.paired import compare_paired
from reled_sumo.metrics.results import EvalResult
from reled_sumo.metrics.stats import mean_ci

out, city, n = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


def load(kind: str, name: str) -> EvalResult:
    return EvalResult.from_dict(json.load(open(f"{out}/results/{kind}/{city}/n{n}/{name}.json"))["eval"])


def per_seed(r: EvalResult) -> dict[int, float]:
    return {s.seed: s.censored_travel_time for s in r.per_seed}


refs = {b: load("ref", b) for b in ("live", "sumo-rerouting")}
METHODS = tuple(sys.argv[4].split(",")) if len(sys.argv) > 4 else ("reled-eq-emb", "ippo-emb")
A, B = METHODS
TRAIN = sorted(int(p.stem[1:]) for p in Path(f"{out}/results/train/{city}/n{n}/{METHODS[0]}").glob("s*.json")
               if all(Path(f"{out}/results/train/{city}/n{n}/{m}/{p.name}").exists() for m in METHODS))
runs = {(m, s): load("train", f"{m}/s{s}") for m in METHODS for s in TRAIN}
for (m, s), r in runs.items():
    x = np.array(list(per_seed(r).values()))
    cells = [f"{b} {compare_paired(r, ref).diff.format(1)}" for b, ref in refs.items()]
    print(f"{m} s{s}: {x.mean():.1f} s (median {np.median(x):.1f}); vs " + ", ".join(cells))
for s in TRAIN:
    c = compare_paired(runs[(A, s)], runs[(B, s)])
    print(f"seed {s}: {A} - {B} {c.diff.format(1)} ({c.verdict})")
seeds = sorted(per_seed(refs["live"]))
mean = {m: np.array([np.mean([per_seed(runs[(m, s)])[k] for s in TRAIN]) for k in seeds]) for m in METHODS}
live = np.array([per_seed(refs["live"])[k] for k in seeds])
rer = np.array([per_seed(refs["sumo-rerouting"])[k] for k in seeds])
a, b = mean[A], mean[B]
for m in METHODS:  # the suite's jam rule: an evaluation seed above 1.2x live
    jams = [(s, k) for s in TRAIN for k, v in per_seed(runs[(m, s)]).items() if v > 1.2 * per_seed(refs["live"])[k]]
    print(f"{m} jams (> 1.2x live): {len(jams)} of {len(TRAIN) * len(per_seed(refs['live']))} episodes {jams}")
print(f"{len(TRAIN)} training seeds {TRAIN} averaged per evaluation seed: {A} {a.mean():.1f}, {B} {b.mean():.1f}")
print(f"  {A} - live {mean_ci(a - live).format(1)}, ratio {mean_ci(a / live).format(3)}")
print(f"  {A} / sumo-rerouting {mean_ci(a / rer).format(3)}")
print(f"  {A} - {B} {mean_ci(a - b).format(1)}, ratio {mean_ci(a / b).format(3)}")
print(f"  {B} - live {mean_ci(b - live).format(1)}")

if len(TRAIN) > 2:  # the training seed as the unit: one mean paired difference per training seed
    def seed_means(m: str, ref: np.ndarray, ratio: bool = False) -> np.ndarray:
        rows = [np.array([per_seed(runs[(m, s)])[k] for k in seeds]) for s in TRAIN]
        return np.array([(r / ref).mean() if ratio else (r - ref).mean() for r in rows])
    print(f"over the {len(TRAIN)} training seeds (t-interval with {len(TRAIN) - 1} df):")
    for m in METHODS:
        d, q = seed_means(m, live), seed_means(m, live, ratio=True)
        print(f"  {m} - live per seed {np.round(d, 1).tolist()}: {mean_ci(d).format(1)}; ratio {mean_ci(q).format(3)}; "
              f"/ sumo-rerouting {mean_ci(seed_means(m, rer, ratio=True)).format(3)}")
    pair = np.array([np.mean([per_seed(runs[(A, s)])[k] - per_seed(runs[(B, s)])[k] for k in seeds]) for s in TRAIN])
    print(f"  {A} - {B} per seed {np.round(pair, 1).tolist()}: {mean_ci(pair).format(1)}")
