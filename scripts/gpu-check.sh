#!/bin/bash
# gpu-check.sh: the GPU checks of jkonet-gpu in one script, on binaries built
# beforehand (make gpu-check-build, which needs Go; this script needs none):
#
#   1. the driver binding and the kernels' parity with the CPU backend,
#      against the real libcuda only (the emulator's runs are make test's),
#      and the collective tests: TestNCCLOneRank, a one-rank NCCL
#      communicator, runs where libnccl.so.2 is installed (NVIDIA's CUDA
#      images have it; set JKONET_NCCL_LIB otherwise), and says why it skips;
#   2. make run's problem (styblinski_tang, 2000 particles, 1000 epochs)
#      trained end to end with --device cuda, for potential and for
#      jkonet-star with the exact interaction mean;
#   3. bench --what gpu: the time to first step in parts, with the kernels'
#      image the driver loaded (SASS, or PTX it JIT-compiled), the CPU-vs-GPU
#      epochs, and steps of each variant and precision against the roofline.
#
# It ends with a summary: the GPU and the date, every figure of README "GPU"'s
# tables, and those tables' rows ready to paste. Logs and the bench JSON stay
# in $OUT (default bin/gpu-check/out). A phase that runs past $LIMIT seconds
# (default 150), or past the whole run's $BUDGET (default 540), is stopped
# and the summary says so (and the exit status is 1, as for a failure):
# the script ends within about 9 minutes (a few on
# an H100 if the kernels reach their targets), inside a 15-minute device
# lease with its start-up. Run it from the repository root.
set -u
cd "$(dirname "$0")/.."
BIN=bin/jkonet-gpu
TESTS=bin/gpu-check
OUT=${OUT:-$TESTS/out}
LIMIT=${LIMIT:-150}
BUDGET=${BUDGET:-540}
deadline=$(( $(date +%s) + BUDGET ))
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
summary=()
note() { summary+=("$1"); echo "== $1"; }
elapsed() { echo "$(( $(date +%s%N) - $1 ))" | awk '{printf "%.1f", $1/1e9}'; }
# set_limit sets a phase's limit: the smaller of LIMIT and what is left of
# BUDGET; failed names a phase's failure: that limit, or its exit status.
set_limit() {
  limit=$(( deadline - $(date +%s) ))
  limit=$(( limit > $1 ? $1 : (limit < 1 ? 1 : limit) ))
}
# A phase that failed or stopped makes the script's exit status 1.
status_all=0
failed() { if [ "$1" = 124 ]; then echo "STOPPED after $limit s"; else echo "FAIL (exit $1)"; fi; }

for f in "$BIN" "$TESTS/driver.test" "$TESTS/cuda.test" "$TESTS/collective.test"; do
  [ -x "$f" ] || { echo "gpu-check: $f is missing: run make gpu-check-build first"; exit 2; }
done
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
else
  gpu="(nvidia-smi not found)"
fi
note "date $(date -u '+%F %H:%M UTC'), GPU: $gpu"

# 1. Parity against the real driver. The test binaries run in their
# package directories, as go test runs them; no emulator.
export JKONET_EMULATOR_LIB=/nonexistent/libcuda-emu.so
for dir in kernels/driver engine/cuda engine/collective; do
  pkg=${dir##*/}
  start=$(date +%s%N)
  set_limit "$LIMIT"
  (cd $dir && timeout "$limit" "../../$TESTS/$pkg.test" -test.v -test.count=1) > "$OUT/$pkg-tests.log" 2>&1
  status=$?
  if [ $status = 0 ]; then
    result="pass ($(elapsed "$start") s; $(grep -c -- '--- PASS' "$OUT/$pkg-tests.log") passed, $(grep -c -- '--- SKIP' "$OUT/$pkg-tests.log") skipped"
    if grep -q "no GPU" "$OUT/$pkg-tests.log"; then
      result="$result, but WITHOUT a GPU: $(grep -m1 -o 'no GPU.*' "$OUT/$pkg-tests.log"))"
    elif grep -q "no NCCL" "$OUT/$pkg-tests.log"; then
      result="$result, but WITHOUT NCCL: $(grep -m1 -o 'no NCCL.*' "$OUT/$pkg-tests.log"))"
    else
      result="$result)"
    fi
    note "$dir tests against libcuda: $result"
  else
    status_all=1
    note "$dir tests against libcuda: $(failed $status) (see $OUT/$pkg-tests.log)"
    grep -E -- '--- FAIL|_test.go' "$OUT/$pkg-tests.log" | head -20
  fi
done

# 2. make run's problem end to end, timed as a user would time it.
"$BIN" generate --potential styblinski_tang --dim 2 --particles 2000 --steps 5 --quiet --out "$WORK/all.npz"
"$BIN" split --data "$WORK/all.npz" --by trajectory --quiet --train "$WORK/train.npz" --test "$WORK/test.npz"
rows=("| GPU, date | model | epochs | seconds end to end | W1 (no motion) |" "|---|---|---:|---:|---|")
for model in potential jkonet-star; do
  start=$(date +%s%N)
  set_limit "$LIMIT"
  timeout "$limit" "$BIN" train --data "$WORK/train.npz" --model $model --epochs 1000 --device cuda --checkpoint-every 0 \
    --log-json "$OUT/train-$model.jsonl" --out "$WORK/$model.safetensors" > "$OUT/train-$model.log" 2>&1
  status=$?
  if [ $status = 0 ]; then
    secs=$(elapsed "$start")
    w1=$("$BIN" eval --model "$WORK/$model.safetensors" --data "$WORK/test.npz" --json | tr -d '\n ' |
      sed -E 's/^[^]]*\],"mean":([^,]*),.*"no_motion":\{"metric":"w1","transitions":\[[^]]*\],"mean":([^,]*),.*/\1 (\2)/')
    note "train $model, 1000 epochs, --device cuda (interaction: exact): $secs s end to end; W1 (no motion) $w1"
    rows+=("| ${gpu%%,*}, $(date -u +%F) | $model | 1000 | $secs | $w1 |")
  else
    status_all=1
    note "train $model --device cuda: $(failed $status) (see $OUT/train-$model.log)"
    tail -3 "$OUT/train-$model.log"
    rows+=("| ${gpu%%,*}, $(date -u +%F) | $model | 1000 | $(failed $status) | — |")
  fi
done

# 3. bench --what gpu, on the cases of README "GPU" (fewer than bench's
# defaults, for time): its first lines time the process's first step, with
# the driver's JIT cache off, so that a PTX image is compiled as on a first
# run whatever ran before.
start=$(date +%s%N)
set_limit "$BUDGET"
CUDA_CACHE_DISABLE=1 timeout "$limit" "$BIN" bench --what gpu --sizes 1000,100000 --dims 2,50 --targets 1000 --seconds 0.5 --repeats 3 \
  --json "$OUT/bench-gpu.json" > "$OUT/bench-gpu.txt" 2>&1
status=$?
cat "$OUT/bench-gpu.txt"
if [ $status = 0 ]; then
  note "bench --what gpu: done ($(elapsed "$start") s), in $OUT/bench-gpu.txt and bench-gpu.json"
  note "$(grep -m1 -o 'time to first step.*' "$OUT/bench-gpu.txt")"
  while IFS= read -r line; do note "$line"; done < <(sed -n '/steps against the roofline/,/README "GPU" rows:/p' "$OUT/bench-gpu.txt" | sed '1d;$d' | sed 's/^ *//')
else
  status_all=1
  note "bench --what gpu: $(failed $status)"
  tail -5 "$OUT/bench-gpu.txt"
fi

echo
echo "summary"
printf '  %s\n' "${summary[@]}"
echo
echo "README \"GPU\" rows (paste under the tables' headers):"
printf '%s\n' "${rows[@]}"
echo
sed -n '/README "GPU" rows:/,$p' "$OUT/bench-gpu.txt" | sed '1d'
exit $status_all
