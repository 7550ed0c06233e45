#!/bin/bash
# Alternating A/B of end-to-end training decisions/s at Kotka 100 (issue 22), session 9:
# base = 5e5daa8 (BASE_WT), head = main at the measured commit (HEAD_WT) with its defaults (numpy rollout
# forward, episode_workers: auto -> 1 on 2 cores), head-torch = the same with rollout_forward: torch
# (TORCH_CFG: the bundled default.yaml plus that line), i.e. session 8's code path.
# usage: BASE_WT=... HEAD_WT=... TORCH_CFG=... [VARIANTS="base head"] tp_ab_s9.sh ROUNDS OUTFILE
export RELED_HOME=${RELED_HOME:-/work/main/.reled}
R=${R:-/work/main/.venv/bin/reled}
CMD="train --scenario kotka --algo ippo --agents 100 --select busy --prior-tau 5 --steps 30000 --episodes-per-update 2 --seed 0"
out=$2; : > $out
for i in $(seq 1 $1); do
  for v in ${VARIANTS:-base head head-torch}; do
    rm -rf /tmp/tp-$v
    case $v in
      base) dir=$BASE_WT; extra="";;
      head) dir=$HEAD_WT; extra="";;
      head-torch) dir=$HEAD_WT; extra="--config $TORCH_CFG";;
    esac
    load=$(cut -d' ' -f1 /proc/loadavg)
    s=$( { /usr/bin/time -f "%e %U %S" bash -c "cd $dir && PYTHONPATH=$dir $R $CMD $extra --out /tmp/tp-$v > /tmp/tp-$v.log 2>&1"; } 2>&1 )
    cp /tmp/tp-$v.log /tmp/tp-$v-$i.log
    dps=$(grep "decisions/s (end to end)" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    dec=$(grep "agent decisions" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    tt=$(grep "last mean travel time" /tmp/tp-$v.log | tr -d '│,' | awk '{print $(NF-1)}')
    echo "$i $v load=$load wall_user_sys=$s dps=$dps decisions=$dec last_tt=$tt" | tee -a $out
  done
done
