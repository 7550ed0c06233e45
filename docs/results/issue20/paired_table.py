"""Paired comparisons from suite result JSONs: python paired_table.py OUT CITY N METHOD[,METHOD..] AGAINST[,..]"""
import json, sys
from pathlib import Path
from reled_sumo.evaluation.paired import compare_paired
from reled_sumo.metrics.results import EvalResult

out, city, n = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
methods, against = sys.argv[4].split(","), sys.argv[5].split(",")

def load(name):
    ref = out / "results" / "ref" / city / f"n{n}" / f"{name}.json"
    if ref.is_file():
        return EvalResult.from_dict(json.loads(ref.read_text())["eval"] if "eval" in json.loads(ref.read_text()) else json.loads(ref.read_text()))
    p = out / "results" / "train" / city / f"n{n}" / name / "s0.json"
    if not p.is_file():
        p = Path(name)  # a path to an eval JSON
        d = json.loads(p.read_text())
        d = d[0] if isinstance(d, list) else d
        return EvalResult.from_dict(d.get("eval", d))
    return EvalResult.from_dict(json.loads(p.read_text())["eval"])

for m in methods:
    r = load(m)
    import numpy as np
    x = np.array([s.censored_travel_time for s in r.per_seed])
    print(f"{m}: mean {x.mean():.1f} median {np.median(x):.1f} n {len(x)}")
    for b in against:
        c = compare_paired(r, load(b))
        print(f"  vs {b:15s} diff {c.diff.format(1):>14s}  ratio {c.ratio.format(3):>16s}  jam {c.jam_rate:.0%}  {c.verdict}")
