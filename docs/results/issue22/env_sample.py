import sys
from reled_sumo.bench.env import bench_env
city = sys.argv[1]
for _rnd in range(2):
    for s in (1.0, 5.0):
        r = bench_env(city, [100], ["libsumo"], repeats=3, live_sample_s=s)[0]
        print(city, s, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                         if k in ("ratio_env_to_raw", "env_wall_s", "raw_wall_s", "decisions", "sumo_in_env_to_raw", "env_outside_sumo_share")}, flush=True)
