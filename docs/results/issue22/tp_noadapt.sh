#!/bin/bash
# Checkouts: /work/base-wt = 5e5daa8 (git worktree add /work/base-wt 5e5daa8); head = /work/main.
# e2e A/B: base 5e5daa8 vs head --episode-workers 1 vs the same with SUMO's routing-engine weight updates off (opt-in, changes episodes)
export RELED_HOME=/work/main/.reled
R=/work/main/.venv/bin/reled
CMD="train --scenario kotka --algo ippo --agents 100 --select busy --prior-tau 5 --steps 30000 --episodes-per-update 2 --seed 0"
out=$2; : > $out
for i in $(seq 1 $1); do
  for v in base head-w1 head-w1-noadapt; do
    rm -rf /tmp/tp-$v
    case $v in
      base) dir=/work/base-wt; extra="";;
      head-w1) dir=/work/main; extra="--episode-workers 1";;
      head-w1-noadapt) dir=/work/main; extra="--episode-workers 1 --config docs/results/issue22/noadapt.yaml";;
    esac
    load=$(cut -d' ' -f1 /proc/loadavg)
    s=$( { /usr/bin/time -f "%e %U %S" bash -c "cd $dir && PYTHONPATH=$dir $R $CMD $extra --out /tmp/tp-$v > /tmp/tp-$v.log 2>&1"; } 2>&1 )
    dps=$(grep "decisions/s (end to end)" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    dec=$(grep "agent decisions" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    tt=$(grep "last mean travel time" /tmp/tp-$v.log | tr -d '│,' | awk '{print $(NF-1)}')
    echo "$i $v load=$load wall_user_sys=$s dps=$dps decisions=$dec last_tt=$tt" | tee -a $out
  done
done
