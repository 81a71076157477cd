#!/bin/bash
# interaction_samples.sh: how many interaction samples the CPU needs.
#
# For data whose drift is mostly a pairwise interaction, trains
# potential-interaction on the CPU with two subsamples of S points per pair
# for each S, and with the exact mean (S = 0), and prints the one-step W1 on
# the test split beside no motion and the training time, as a markdown table.
# The data: P particles (1000), 5 steps of dt 0.01, a flat potential and the
# interaction kernel W, trajectory split (P/2 training particles a snapshot).
# W is a zoo function, or gauss:A:σ for the short-range repulsion
# A·exp(−‖v‖²/(2σ²)) of bench/repulsion (e.g. gauss:2000:0.5).
#
# Each S is trained with every training seed; a last row per S gives the
# mean over the seeds. S = default leaves --interaction-samples to the
# backend (the CPU's default estimator).
#
#   bench/interaction_samples.sh [-b bin/jkonet-gpu] [-e epochs] [-p particles] [-s "4 8 16 0"] [-r "0 1 2"] W...
set -eu
bin=bin/jkonet-gpu epochs=300 particles=1000 samples="4 8 16 0" seeds="0 1 2"
while getopts b:e:p:s:r: o; do
  case $o in
    b) bin=$OPTARG ;; e) epochs=$OPTARG ;; p) particles=$OPTARG ;; s) samples=$OPTARG ;; r) seeds=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- double_exp oakley_ohagan sphere
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| interaction | S | seed | learned W1 | no motion | learned / no motion | training seconds |"
echo "|---|---|---|---|---|---|---|"
for w in "$@"; do
  case $w in
    gauss:*:*)
      IFS=: read -r _ a sigma <<<"$w"
      go run ./bench/repulsion -a "$a" -sigma "$sigma" -particles "$particles" -steps 5 -out "$work/$w.npz" ;;
    *) "$bin" generate --potential flat --interaction "$w" --particles "$particles" --steps 5 --quiet --out "$work/$w.npz" ;;
  esac
  "$bin" split --data "$work/$w.npz" --train "$work/$w-train.npz" --test "$work/$w-test.npz" --quiet
  "$bin" preprocess --data "$work/$w-train.npz" --out "$work/$w-c.npz" --quiet
  for s in $samples; do
    for seed in $seeds; do
      flag=(--interaction-samples "$s")
      [ "$s" = default ] && flag=()
      start=$(date +%s%N)
      "$bin" train --data "$work/$w-train.npz" --couplings "$work/$w-c.npz" --model potential-interaction --device cpu \
        --epochs "$epochs" "${flag[@]}" --seed "$seed" --checkpoint-every 0 --quiet --out "$work/m.safetensors"
      secs=$(( ($(date +%s%N) - start) / 1000000 ))
      "$bin" eval --model "$work/m.safetensors" --data "$work/$w-test.npz" --json | tr -d ' \n' |
        sed -E 's/^[^]]*\],"mean":([^,]*),.*"no_motion":\{"metric":"w1","transitions":\[[^]]*\],"mean":([^,]*),.*/\1 \2/' |
        awk -v t="$secs" '{ print $1, $2, t / 1000 }'
    done | awk -v w="$w" -v s="$s" -v seeds="$seeds" '
      BEGIN { split(seeds, seed, " "); label = (s == "0" ? "exact" : s) }
      { n++; printf "| %s | %s | %s | %.4f | %.4f | %.3f | %.1f |\n", w, label, seed[n], $1, $2, $1 / $2, $3; l += $1; m = $2; t += $3 }
      END { if (n > 1) printf "| %s | %s | mean | **%.4f** | %.4f | **%.3f** | %.1f |\n", w, label, l / n, m, l / n / m, t / n }'
  done
done
