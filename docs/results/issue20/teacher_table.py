"""Markdown tables of the teacher comparison in docs/results.md (session of 2026-12-05 afternoon).

    python teacher_table.py OUT CITY N METHOD[,METHOD...] [--extra NAME=eval_results.json ...]

OUT is a `reled bench learn` output folder; METHOD names its training methods (results/train/CITY/nN/
METHOD/s0.json) or an --extra name; every row is compared, paired per evaluation seed, with `live`,
`sumo-rerouting` and `ippo` (travel time counting non-arrived agents, 95 % t-intervals).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reled_sumo.evaluation.paired import compare_paired
from reled_sumo.metrics.results import EvalResult
from reled_sumo.metrics.stats import mean_ci

AGAINST = ("live", "sumo-rerouting", "ippo")


def _load(out: Path, city: str, n: str, name: str, extra: dict[str, Path]) -> EvalResult:
    if name in extra:
        d = json.loads(extra[name].read_text())
        return EvalResult.from_dict(d[0] if isinstance(d, list) else d)
    ref = out / "results" / "ref" / city / f"n{n}" / f"{name}.json"
    path = ref if ref.is_file() else out / "results" / "train" / city / f"n{n}" / name / "s0.json"
    return EvalResult.from_dict(json.loads(path.read_text())["eval"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("city")
    ap.add_argument("n")
    ap.add_argument("methods")
    ap.add_argument("--extra", nargs="*", default=[])
    a = ap.parse_args()
    extra = {k: Path(v) for k, v in (e.split("=", 1) for e in a.extra)}
    base = {b: _load(a.out, a.city, a.n, b, extra) for b in AGAINST}
    print("| method | travel incl. non-arrived (s) | median (s) | " + " | ".join(f"− {b} (s), ratio" for b in AGAINST) + " |")
    print("|---" * (3 + len(AGAINST)) + "|")
    for m in a.methods.split(","):
        r = _load(a.out, a.city, a.n, m, extra)
        x = np.array([s.censored_travel_time for s in r.per_seed])
        cells = []
        for b in AGAINST:
            if b == m:
                cells.append("—")
                continue
            c = compare_paired(r, base[b])
            mark = {"better": " **better**", "worse": " worse"}.get(c.verdict, "")
            cells.append(f"{c.diff.format(1)}, {c.ratio.format(3)}{mark}")
        print(f"| {m} | {mean_ci(x).format(1)} | {np.median(x):.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
