#!/bin/bash
# Alternating A/B of end-to-end training decisions/s at Kotka 100 (issue 22), session 10:
# base = 5e5daa8 (BASE_WT), s9 = 1330804, session 9's final code (S9_WT), head-s1 = the measured commit
# (HEAD_WT) with the speed reading every second as before (its docs/results/issue22/sample1.yaml: the bundled
# default.yaml with live_sample_s 1.0; only the multi-tensor optimiser differs from s9, so its runs must equal
# s9's), head = the measured commit with its defaults (a reading every 5 s).
# usage: BASE_WT=... S9_WT=... HEAD_WT=... [VARIANTS="base head"] [CMD=...] tp_ab_s10.sh ROUNDS OUTFILE   (the loop: tp_ab.sh)
declare -A spec=([base]="base=$BASE_WT" [s9]="s9=$S9_WT"
                 [head-s1]="head-s1=$HEAD_WT:--config $HEAD_WT/docs/results/issue22/sample1.yaml" [head]="head=$HEAD_WT")
args=()
for v in ${VARIANTS:-base s9 head-s1 head}; do args+=("${spec[$v]}"); done
exec "$(dirname "$0")/tp_ab.sh" "$1" "$2" "${args[@]}"
