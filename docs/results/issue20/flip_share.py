"""Share of greedy decisions where the trained policy differs from its prior's own choice (the candidate
with the least live extra time), on the run's env settings, evaluation seeds 10000-10004."""
import sys
import numpy as np
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.deploy.record import RunRecord
from reled_sumo.env import make_env
from reled_sumo.env.episode import run_episode
from reled_sumo.env.observation import C_LIVE_EXTRA_TIME, N_CAND, N_OWN
for rd in sys.argv[1:]:
    policy, meta = load_policy(rd)
    rec = RunRecord.from_meta(meta)
    env = make_env(rec.target(), **rec.env_options())
    stats = [0, 0]
    def act(o, i, m):
        a, v, lp = policy.act(o, i, m, deterministic=True)
        k = m.shape[1]
        extra = o[:, N_OWN + C_LIVE_EXTRA_TIME::N_CAND][:, :k]
        prior = np.argmin(np.where(m, extra, np.inf), axis=1)
        stats[0] += int((prior != a).sum()); stats[1] += len(a)
        return a, v, lp
    for s in range(10000, 10005):
        run_episode(env, act, seed=s)
    env.close()
    print(f"{rd}: {stats[0]} of {stats[1]} greedy decisions differ from the prior ({100*stats[0]/stats[1]:.1f} %)")
