#!/bin/bash
# Checkouts: /work/base-wt = 5e5daa8, /work/qs-wt = the head under test, /work/eq-wt = eec77fa (git worktree add PATH COMMIT).
# Alternating A/B/C/D (D: eec77fa, before session 7's hot-path commit) of end-to-end training decisions/s at Kotka 100 (issue 22): base = 5e5daa8, head = main.
# usage: tp_ab.sh ROUNDS OUTFILE
export RELED_HOME=/work/main/.reled
R=/work/main/.venv/bin/reled
CMD="train --scenario kotka --algo ippo --agents 100 --select busy --prior-tau 5 --steps 30000 --episodes-per-update 2 --seed 0"
out=$2; : > $out
for i in $(seq 1 $1); do
  for v in base head head-w1 prev-w1; do
    rm -rf /tmp/tp-$v
    case $v in
      base) dir=/work/base-wt; extra="";;
      head) dir=/work/qs-wt; extra="";;
      head-w1) dir=/work/qs-wt; extra="--episode-workers 1";;
      prev-w1) dir=/work/eq-wt; extra="--episode-workers 1";;
    esac
    load=$(cut -d' ' -f1 /proc/loadavg)
    s=$( { /usr/bin/time -f "%e %U %S" bash -c "cd $dir && PYTHONPATH=$dir $R $CMD $extra --out /tmp/tp-$v > /tmp/tp-$v.log 2>&1"; } 2>&1 )
    cp /tmp/tp-$v.log /tmp/tp-$v-$i.log
    dps=$(grep "decisions/s (end to end)" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    dec=$(grep "agent decisions" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    echo "$i $v load=$load wall_user_sys=$s dps=$dps decisions=$dec" | tee -a $out
  done
done
