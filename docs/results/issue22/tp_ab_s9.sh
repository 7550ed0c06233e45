#!/bin/bash
# Alternating A/B of end-to-end training decisions/s at Kotka 100 (issue 22), session 9:
# base = 5e5daa8 (BASE_WT), head = main at the measured commit (HEAD_WT) with its defaults (numpy rollout
# forward, episode_workers: auto -> 1 on 2 cores), head-torch = the same with rollout_forward: torch
# (TORCH_CFG: the bundled default.yaml plus that line), i.e. session 8's code path.
# usage: BASE_WT=... HEAD_WT=... TORCH_CFG=... [VARIANTS="base head"] tp_ab_s9.sh ROUNDS OUTFILE   (the loop: tp_ab.sh)
declare -A spec=([base]="base=$BASE_WT" [head]="head=$HEAD_WT" [head-torch]="head-torch=$HEAD_WT:--config $TORCH_CFG")
args=()
for v in ${VARIANTS:-base head head-torch}; do args+=("${spec[$v]}"); done
exec "$(dirname "$0")/tp_ab.sh" "$1" "$2" "${args[@]}"
