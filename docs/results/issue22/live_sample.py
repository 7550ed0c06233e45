"""Is the `live` prior as good with a sparser speed sample? Paired on 20 evaluation seeds."""
import sys
import time
import json
import numpy as np
from reled_sumo.evaluation.references import evaluate_reference
from reled_sumo.evaluation.paired import compare_paired
city = sys.argv[1]
samples = [float(x) for x in sys.argv[2].split(",")]
base_opts = dict(max_agents=100, agent_selection="busy", busy_from_s=300.0, live_period_s=30.0,
                 live_estimate="speed_window", live_window_s=60.0)
res = {}
for s in samples:
    t = time.perf_counter()
    r = evaluate_reference("live", city, 20, env_options={**base_opts, "live_sample_s": s})
    res[s] = r
    tt = np.array([p.censored_travel_time for p in r.per_seed])
    print(city, "sample_s", s, "mean", round(tt.mean(), 2), "median", round(float(np.median(tt)), 2),
          "wall", round(time.perf_counter() - t, 1), flush=True)
    json.dump({"city": city, "sample_s": s, "tt": tt.tolist(), "seeds": [p.seed for p in r.per_seed]},
              open(f"/tmp/live_{city}_{s:g}.json", "w"))
for s in samples[1:]:
    print(city, f"sample {s:g} vs 1:", compare_paired(res[s], res[samples[0]]).sentence())
