#!/bin/bash
# Alternating A/B of end-to-end training decisions/s at Kotka 100 (issue 22), session 8:
# base = 5e5daa8 (/work/base-wt), head = main with its defaults (episode_workers: auto -> 1 on 2 cores),
# head-w0 = main with --episode-workers 0 (one process; the same run as head by construction of the seeding).
# usage: tp_ab_s8.sh ROUNDS OUTFILE   (the loop: tp_ab.sh)
exec "$(dirname "$0")/tp_ab.sh" "$1" "$2" base=/work/base-wt head=/work/main "head-w0=/work/main:--episode-workers 0"
