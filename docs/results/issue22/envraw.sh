#!/bin/bash
# env/raw SUMO (issue 22): `reled bench env` at 100 agents on Kotka and Helsinki, alternating, ROUNDS times, then
# `kotka-all` at 100 and 1,000 agents KA_ROUNDS times; one JSON line per row (and a line with the load before
# each invocation) into OUTFILE.   usage: envraw.sh OUTFILE [ROUNDS=5] [KA_ROUNDS=3]
# CHECKOUT (default /work/main: the code measured), R (the reled executable), RELED_HOME and REPEATS (each
# invocation keeps the fastest of REPEATS env and raw runs; default 1) may be set.
export RELED_HOME=${RELED_HOME:-/work/main/.reled}
R=${R:-/work/main/.venv/bin/reled}
CHECKOUT=${CHECKOUT:-/work/main}
out=$1; rounds=${2:-5}; ka_rounds=${3:-3}
: > "$out"
bench() {  # city agents run
  echo "{\"run\": $3, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"city\": \"$1\"}" >> "$out"
  (cd "$CHECKOUT" && PYTHONPATH=$CHECKOUT $R bench env -s "$1" --agents "$2" --backends libsumo --repeats "${REPEATS:-1}" --json 2>/dev/null) | grep '^{' >> "$out"
}
for i in $(seq 1 "$rounds"); do
  for c in kotka helsinki; do bench $c 100 "$i"; done
done
for i in $(seq 1 "$ka_rounds"); do bench kotka-all 100,1000 "$i"; done
