#!/bin/bash
# gpu-check.sh: the GPU checks of jkonet-gpu in one script, on binaries built
# beforehand (make gpu-check-build, which needs Go; this script needs none):
#
#   1. the driver binding and the kernels' parity with the CPU backend,
#      against the real libcuda (the kernels/driver and engine/cuda test binaries),
#      and the collective tests: TestNCCLOneRank, a one-rank NCCL
#      communicator, runs where libnccl.so.2 is installed (NVIDIA's CUDA
#      images have it; set JKONET_NCCL_LIB otherwise), and says why it skips;
#   2. the default synthetic problem (make run's: styblinski_tang, 2000
#      particles, potential, 1000 epochs) trained end to end with
#      --device cuda, and jkonet-star with the exact interaction mean;
#   3. the CPU-vs-GPU table (bench --what gpu).
#
# It prints a summary and leaves logs and bench JSON in $OUT (default
# bin/gpu-check/out). Run from the repository root; about 5 minutes on one
# H100.
set -u
cd "$(dirname "$0")/.."
BIN=bin/jkonet-gpu
TESTS=bin/gpu-check
OUT=${OUT:-$TESTS/out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
summary=()
note() { summary+=("$1"); echo "== $1"; }
elapsed() { local start=$1; echo "$(( $(date +%s%N) - start ))" | awk '{printf "%.1f", $1/1e9}'; }

for f in "$BIN" "$TESTS/driver.test" "$TESTS/cuda.test" "$TESTS/collective.test"; do
  [ -x "$f" ] || { echo "gpu-check: $f is missing: run make gpu-check-build first"; exit 2; }
done
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
else
  gpu="(nvidia-smi not found)"
fi
note "date $(date -u +%F), GPU: $gpu"

# 1. Parity against the real driver. The test binaries run in their
# package directories, as go test runs them.
for dir in kernels/driver engine/cuda engine/collective; do
  pkg=${dir##*/}
  start=$(date +%s%N)
  if (cd $dir && "../../$TESTS/$pkg.test" -test.v -test.count=1) > "$OUT/$pkg-tests.log" 2>&1; then
    result="pass ($(elapsed $start) s; $(grep -c -- '--- PASS' "$OUT/$pkg-tests.log") passed"
    if grep -q "no GPU" "$OUT/$pkg-tests.log"; then
      result="$result, but WITHOUT a GPU: $(grep -m1 -o 'no GPU.*' "$OUT/$pkg-tests.log"))"
    elif grep -q "no NCCL" "$OUT/$pkg-tests.log"; then
      result="$result, but WITHOUT NCCL: $(grep -m1 -o 'no NCCL.*' "$OUT/$pkg-tests.log"))"
    else
      result="$result)"
    fi
    note "$dir tests against libcuda: $result"
  else
    note "$dir tests against libcuda: FAIL (see $OUT/$pkg-tests.log)"
    grep -E -- '--- FAIL|_test.go' "$OUT/$pkg-tests.log" | head -20
  fi
done

# 2. The default problem end to end, timed as a user would time it.
"$BIN" generate --potential styblinski_tang --dim 2 --particles 2000 --steps 5 --quiet --out "$WORK/all.npz"
"$BIN" split --data "$WORK/all.npz" --by trajectory --quiet --train "$WORK/train.npz" --test "$WORK/test.npz"
for model in potential jkonet-star; do
  start=$(date +%s%N)
  if "$BIN" train --data "$WORK/train.npz" --model $model --epochs 1000 --device cuda --checkpoint-every 0 \
      --log-json "$OUT/train-$model.jsonl" --out "$WORK/$model.safetensors" > "$OUT/train-$model.log" 2>&1; then
    secs=$(elapsed $start)
    w1=$("$BIN" eval --model "$WORK/$model.safetensors" --data "$WORK/test.npz" --json | tr -d '\n ' | sed -E 's/^[^]]*\],"mean":([^,]*),.*"no_motion":\{"metric":"w1","transitions":\[[^]]*\],"mean":([^,]*),.*/W1 \1, no motion \2/')
    note "train $model, 1000 epochs, --device cuda (default interaction: exact): $secs s end to end; $w1"
  else
    note "train $model --device cuda: FAIL (see $OUT/train-$model.log)"
    tail -3 "$OUT/train-$model.log"
  fi
done

# 3. The CPU-vs-GPU table.
start=$(date +%s%N)
if "$BIN" bench --what gpu --seconds 0.5 --repeats 3 --json "$OUT/bench-gpu.json" > "$OUT/bench-gpu.txt" 2>&1; then
  note "bench --what gpu: done ($(elapsed $start) s), table in $OUT/bench-gpu.txt"
  cat "$OUT/bench-gpu.txt"
else
  note "bench --what gpu: FAIL"
  tail -5 "$OUT/bench-gpu.txt"
fi

echo
echo "summary"
printf '  %s\n' "${summary[@]}"
