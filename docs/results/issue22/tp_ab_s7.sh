#!/bin/bash
# Checkouts: /work/base-wt = 5e5daa8, /work/qs-wt = the head under test, /work/eq-wt = eec77fa (git worktree add PATH COMMIT).
# Alternating A/B/C/D (D: eec77fa, before session 7's hot-path commit) of end-to-end training decisions/s at Kotka 100 (issue 22): base = 5e5daa8, head = main.
# usage: tp_ab_s7.sh ROUNDS OUTFILE   (the loop: tp_ab.sh)
exec "$(dirname "$0")/tp_ab.sh" "$1" "$2" base=/work/base-wt head=/work/qs-wt "head-w1=/work/qs-wt:--episode-workers 1" \
  "prev-w1=/work/eq-wt:--episode-workers 1"
