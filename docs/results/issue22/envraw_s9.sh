#!/bin/bash
# Session 9's env/raw run (1330804): the loop of envraw.sh, 5 rounds of Kotka/Helsinki 100, 3 of kotka-all.
exec "$(dirname "$0")/envraw.sh" /work/exp/s9/envraw.jsonl 5 3
