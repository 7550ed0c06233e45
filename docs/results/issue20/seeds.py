"""reled-eq-emb against ippo-emb and `live` on two training seeds (docs/results.md): each seed paired
with the references on the 20 evaluation seeds, then the two training seeds averaged per evaluation seed.

    python seeds.py OUT CITY N        # e.g. python seeds.py /work/exp/bench-eq kotka 100
"""
import json
import sys

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
runs = {(m, s): load("train", f"{m}/s{s}") for m in ("reled-eq-emb", "ippo-emb") for s in (0, 1)}
for (m, s), r in runs.items():
    x = np.array(list(per_seed(r).values()))
    cells = [f"{b} {compare_paired(r, ref).diff.format(1)}" for b, ref in refs.items()]
    print(f"{m} s{s}: {x.mean():.1f} s (median {np.median(x):.1f}); vs " + ", ".join(cells))
for s in (0, 1):
    c = compare_paired(runs[("reled-eq-emb", s)], runs[("ippo-emb", s)])
    print(f"seed {s}: reled-eq-emb - ippo-emb {c.diff.format(1)} ({c.verdict})")
seeds = sorted(per_seed(refs["live"]))
mean = {m: np.array([np.mean([per_seed(runs[(m, s)])[k] for s in (0, 1)]) for k in seeds])
        for m in ("reled-eq-emb", "ippo-emb")}
live = np.array([per_seed(refs["live"])[k] for k in seeds])
rer = np.array([per_seed(refs["sumo-rerouting"])[k] for k in seeds])
a, b = mean["reled-eq-emb"], mean["ippo-emb"]
print(f"two seeds averaged: reled-eq-emb {a.mean():.1f}, ippo-emb {b.mean():.1f}")
print(f"  reled-eq-emb - live {mean_ci(a - live).format(1)}, ratio {mean_ci(a / live).format(3)}")
print(f"  reled-eq-emb / sumo-rerouting {mean_ci(a / rer).format(3)}")
print(f"  reled-eq-emb - ippo-emb {mean_ci(a - b).format(1)}, ratio {mean_ci(a / b).format(3)}")
print(f"  ippo-emb - live {mean_ci(b - live).format(1)}")
