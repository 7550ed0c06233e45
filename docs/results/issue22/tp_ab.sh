#!/bin/bash
# Alternating end-to-end A/B of training decisions/s at Kotka 100 (issue 22): every round runs each variant once,
# in the order given, in a fresh process from its own checkout, and prints one line per run.
# usage: tp_ab.sh ROUNDS OUTFILE NAME=CHECKOUT[:EXTRA FLAGS] ...
#   e.g. tp_ab.sh 3 out.txt base=/work/base-wt head=/work/main "head-w0=/work/main:--episode-workers 0"
# R (the reled executable), RELED_HOME and CMD (the command without --out) may be set in the environment;
# SHUFFLE=1 plays the variants of each round in a random order (seeded by the round) instead of as given, so that
# no variant always runs right after another (session 10: in the fixed order the second variant ran slower).
export RELED_HOME=${RELED_HOME:-/work/main/.reled}
R=${R:-/work/main/.venv/bin/reled}
CMD=${CMD:-"train --scenario kotka --algo ippo --agents 100 --select busy --prior-tau 5 --steps 30000 --episodes-per-update 2 --seed 0"}
rounds=$1; out=$2; shift 2
: > $out
for i in $(seq 1 $rounds); do
  specs=("$@")
  if [[ ${SHUFFLE:-0} == 1 ]]; then mapfile -t specs < <(printf '%s\n' "$@" | shuf --random-source=<(yes $i)); fi
  for spec in "${specs[@]}"; do
    v=${spec%%=*}; rest=${spec#*=}
    if [[ $rest == *:* ]]; then dir=${rest%%:*}; extra=${rest#*:}; else dir=$rest; extra=""; fi
    rm -rf /tmp/tp-$v
    load=$(cut -d' ' -f1 /proc/loadavg)
    s=$( { /usr/bin/time -f "%e %U %S" bash -c "cd $dir && PYTHONPATH=$dir $R $CMD $extra --out /tmp/tp-$v > /tmp/tp-$v.log 2>&1"; } 2>&1 )
    cp /tmp/tp-$v.log /tmp/tp-$v-$i.log
    dps=$(grep "decisions/s (end to end)" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    dec=$(grep "agent decisions" /tmp/tp-$v.log | tr -d '│,' | awk '{print $NF}')
    tt=$(grep "last mean travel time" /tmp/tp-$v.log | tr -d '│,' | awk '{print $(NF-1)}')
    echo "$i $v load=$load wall_user_sys=$s dps=$dps decisions=$dec last_tt=$tt" | tee -a $out
  done
done
