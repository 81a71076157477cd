#!/bin/bash
# data_parallel.sh: CPU data-parallel scaling under mpirun.
#
# Trains jkonet-star on the CPU with the same global batch on 1 process and
# on N ranks under mpirun, and prints per rank count the median over the
# repeats of the time per epoch (from --log-json, the first epoch left out)
# and of rank 0's share of the training time spent in the MPI sums, waiting
# for the other ranks included (the "data parallel: ..." line), as a
# markdown table, and the load average before and after. The data: the styblinski_tang potential in 2-D, 2000
# particles, 5 steps, trajectory split; the reference's batch of 250 pairs.
#
#   bench/data_parallel.sh [-b bin/jkonet-gpu] [-e epochs] [-n "1 2 4"] [-r repeats]
set -eu
bin=bin/jkonet-gpu epochs=12 ranks="1 2 4" repeats=3
while getopts b:e:n:r: o; do
  case $o in
    b) bin=$OPTARG ;; e) epochs=$OPTARG ;; n) ranks=$OPTARG ;; r) repeats=$OPTARG ;;
    *) exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'uptime >&2; rm -rf "$work"' EXIT
trap 'echo "data_parallel.sh: line $LINENO failed" >&2' ERR
uptime >&2
"$bin" generate --potential styblinski_tang --dim 2 --particles 2000 --steps 5 --quiet --out "$work/all.npz"
"$bin" split --data "$work/all.npz" --train "$work/train.npz" --test "$work/test.npz" --quiet
"$bin" preprocess --data "$work/train.npz" --out "$work/c.npz" --quiet
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# The rank counts alternate within each repeat, so a change in the machine's
# load falls on all of them alike.
for r in $(seq "$repeats"); do
  for n in $ranks; do
    args=(train --data "$work/train.npz" --couplings "$work/c.npz" --model jkonet-star --device cpu --epochs "$epochs"
      --checkpoint-every 0 --log-json "$work/log.jsonl" --out "$work/m.safetensors")
    if [ "$n" = 1 ]; then
      "$bin" "${args[@]}" 2>"$work/err" >/dev/null
    else
      mpirun --allow-run-as-root --oversubscribe -n "$n" "$bin" "${args[@]}" --collective mpi 2>"$work/err" >/dev/null
    fi
    # Seconds per epoch after the first: (t_last − t_1) / (epochs − 1).
    sed -E 's/.*"seconds":([0-9.e+-]+).*/\1/' "$work/log.jsonl" |
      awk -v e="$epochs" 'NR == 1 {a = $1} {b = $1} END {printf "%.3f\n", (b - a) / (e - 1)}' >>"$work/epoch$n"
    { grep -o '([0-9.]*%)' "$work/err" || echo '(-)'; } | tr -d '()%' >>"$work/share$n"
  done
done
echo "| ranks | collective | seconds per epoch (median of $repeats) | rank 0 in the sums |"
echo "|---|---|---|---|"
for n in $ranks; do
  collective=mpi && [ "$n" = 1 ] && collective=none
  share=$(median <"$work/share$n")
  [ "$share" = - ] || share="$share%"
  echo "| $n | $collective | $(median <"$work/epoch$n") | $share |"
done
