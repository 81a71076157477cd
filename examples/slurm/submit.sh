#!/bin/bash
# Preprocess in shards, merge, train: three jobs chained by dependencies.
#   DATA=train.npz ./submit.sh
set -euo pipefail
cd "$(dirname "$0")"
array=$(sbatch --parsable preprocess.sbatch)
merge=$(sbatch --parsable --dependency=afterok:"$array" merge.sbatch)
train=$(sbatch --parsable --dependency=afterok:"$merge" train.sbatch)
echo "preprocess $array, merge $merge, train $train"
