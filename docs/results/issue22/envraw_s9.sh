#!/bin/bash
export RELED_HOME=/work/main/.reled
R=/work/main/.venv/bin/reled
out=/work/exp/s9/envraw.jsonl; : > $out
for i in 1 2 3 4 5; do
  for c in kotka helsinki; do
    echo "{\"run\": $i, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"city\": \"$c\"}" >> $out
    $R bench env -s $c --agents 100 --backends libsumo --json 2>/dev/null | grep '^{' >> $out
  done
done
for i in 1 2 3; do
  echo "{\"run\": $i, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"city\": \"kotka-all\"}" >> $out
  $R bench env -s kotka-all --agents 100,1000 --backends libsumo --json 2>/dev/null | grep '^{' >> $out
done
