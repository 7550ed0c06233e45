"""The live reference with the old (snapshot) estimate, on the small suite's cells and seeds, for a
paired comparison with the new (speed_window) one already evaluated by the suite."""
import json, sys
from reled_sumo.bench import suite as S
from reled_sumo.evaluation.references import ReferenceConfig, evaluate_reference
spec = S.load_suite("small_subset")  # the env options of the run of 2026-12-05
for city, n in [(c, int(a)) for c, a in (x.split(":") for x in sys.argv[1:])]:
    opts = S.env_options(spec, n)
    opts["live_estimate"] = "snapshot"
    res = evaluate_reference("live", city, spec.eval_seeds, opts, ReferenceConfig())
    open(f"{city}-n{n}-snapshot.json", "w").write(json.dumps(res.to_dict()))
    print(city, n, res.estimate("censored_travel_time"))
