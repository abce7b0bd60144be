#!/bin/bash
# Everything the shipped demo zoo carries beyond the plain `s2s demo` build (issue 27), timed step by step:
#   bash benchmarks/demo_zoo/ship_extras.sh checkpoints/demo      (S2S=path/to/s2s to pick the executable)
set -e
Z=${1:-checkpoints/demo}
S=${S2S:-s2s}
t() { local s=$(date +%s); "$@"; echo "TIMING $(( $(date +%s) - s )) s: $*"; }
t $S demo-controls $Z
t $S demo-pairs $Z
t $S evaluate $Z --data $Z/data/test --only class_sensitivity,randomisation,s2s_control --threads 2
t $S evaluate $Z --data $Z/data/test --only inversion --per-class 5 --threads 2
t $S evaluate $Z --data $Z/data/test --only ground_truth,per_image --gt-inversion-per-class 50 --threads 2
t $S attack $Z --data $Z/data/test --eps 0,2,4,8,16 --threads 2
echo POST DONE
