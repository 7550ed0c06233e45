"""Kotka 100, training seeds 0 and 1 of reled-eq-emb and ippo-emb (docs/results.md): each seed paired with
the references, then the two seeds averaged per evaluation seed.  python seeds_k100.py OUT"""
import json,sys
from reled_sumo.evaluation.paired import compare_paired
from reled_sumo.metrics.results import EvalResult
b=sys.argv[1].rstrip('/')+'/results/'
L=lambda p: EvalResult.from_dict(json.load(open(b+p))['eval'])
r1=L('train/kotka/n100/reled-eq-emb/s1.json'); i1=L('train/kotka/n100/ippo-emb/s1.json')
live=L('ref/kotka/n100/live.json'); sr=L('ref/kotka/n100/sumo-rerouting.json'); eq=L('ref/kotka/n100/agents-eq.json')
r0=L('train/kotka/n100/reled-eq-emb/s0.json'); ip0=L('train/kotka/n100/ippo/s0.json')
import numpy as np
for name,r in (('reled-eq-emb s1',r1),('ippo-emb s1',i1)):
    x=np.array([s.censored_travel_time for s in r.per_seed]); print(name, round(x.mean(),1), round(np.median(x),1))
    for bn,bb in (('live',live),('sumo-rerouting',sr),('agents-eq',eq)):
        c=compare_paired(r,bb); print('   vs',bn,c.diff.format(1),c.ratio.format(3),c.verdict)
c=compare_paired(r1,i1); print('reled-eq-emb s1 vs ippo-emb s1', c.diff.format(1), c.ratio.format(3), c.verdict)
def avg(rs, name):
    per = [{s.seed: s.censored_travel_time for s in r.per_seed} for r in rs]
    seeds = sorted(set.intersection(*[set(p) for p in per]))
    return seeds, np.array([np.mean([p[s] for p in per]) for s in seeds])
from reled_sumo.metrics.stats import mean_ci
s, a = avg([r0, r1], 'r'); _, b = avg([L('train/kotka/n100/ippo-emb/s0.json'), i1], 'i')
lv = np.array([{x.seed: x.censored_travel_time for x in live.per_seed}[k] for k in s])
srr = np.array([{x.seed: x.censored_travel_time for x in sr.per_seed}[k] for k in s])
print('2-seed mean reled-eq-emb', a.mean().round(1), 'ippo-emb', b.mean().round(1))
print(' reled-eq-emb - live', mean_ci(a-lv).format(1), 'ratio', mean_ci(a/lv).format(3))
print(' reled-eq-emb / sumo-rerouting', mean_ci(a/srr).format(3))
print(' reled-eq-emb - ippo-emb', mean_ci(a-b).format(1), 'ratio', mean_ci(a/b).format(3))
print(' ippo-emb - live', mean_ci(b-lv).format(1))
