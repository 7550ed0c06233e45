#!/bin/bash
# Checkouts: /work/base-wt = 5e5daa8 (git worktree add /work/base-wt 5e5daa8); head = /work/main.
# e2e A/B: base 5e5daa8 vs head --episode-workers 1 vs the same with SUMO's routing-engine weight updates off (opt-in, changes episodes)
# usage: tp_noadapt.sh ROUNDS OUTFILE   (the loop: tp_ab.sh)
exec "$(dirname "$0")/tp_ab.sh" "$1" "$2" base=/work/base-wt "head-w1=/work/main:--episode-workers 1" \
  "head-w1-noadapt=/work/main:--episode-workers 1 --config docs/results/issue22/noadapt.yaml"
