#!/bin/bash
# session 7 quiet measurements (issue 22): env/raw at 100 agents (both cities) and 1,000 agents (kotka-all), then the e2e A/B
export RELED_HOME=/work/main/.reled PYTHONPATH=/work/qs-wt
R=/work/main/.venv/bin/reled
cd /work/exp
out=/work/exp/quiet_s7.jsonl; : > $out
[ -d /work/main/.reled/scenarios/kotka-all ] || $R scenario build kotka --name kotka-all --agents all > /work/exp/kotka-all-build.log 2>&1
for i in 1 2 3; do
  for c in kotka helsinki; do
    echo "{\"run\": $i, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"city\": \"$c\"}" >> $out
    $R bench env -s $c --agents 100 --backends libsumo --json 2>/dev/null | grep '^{' >> $out
  done
  echo "{\"run\": $i, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"city\": \"kotka-all\"}" >> $out
  $R bench env -s kotka-all --agents 100,1000 --backends libsumo --json 2>/dev/null | grep '^{' >> $out
done
/work/exp/tp_ab_s7.sh 3 /work/exp/tp_ab_s7.txt > /work/exp/tp_ab_s7.log 2>&1
