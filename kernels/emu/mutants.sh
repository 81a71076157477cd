#!/bin/sh
# mutants.sh (make mutants): every barrier of kernels/step.cu must be needed
# by a test. For each __syncthreads() in turn, it builds the emulator from a
# copy of step.cu with that one barrier deleted (the committed PTX and its
# source hash stay as they are, so the mutant loads the same module) and runs
# the CUDA backend's parity tests on it, in every thread order of the
# emulator (forward, reverse, random). A mutant is caught when a test fails;
# the script fails if any survives, naming its line.
#
# From the repository root:  kernels/emu/mutants.sh [barrier numbers...]
# (all of them when none is given; numbers count from 1 in source order).
set -eu
GO=${GO:-go}
CXX=${CXX:-g++}
K=kernels
SRC=$K/step.cu
TESTS='^(TestProbeMatchesCPU|TestTrainingMatchesCPU|TestResumeIsBitForBit)$'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

hash_of() { cat $K/jk_cuda.h $K/philox.cuh "$K/$1.cu" | sha256sum | cut -c1-64; }
hashes="selftest=$(hash_of selftest);step=$(hash_of step);"
flags="-std=c++17 -O2 -fPIC -DJKONET_EMULATOR -I$K"

# The parts every mutant shares, built once: the engine, the driver, the
# self-test kernels, and the test binary of package cuda.
for f in $K/emu/*.cpp; do
  $CXX $flags -DJK_MODULE_HASHES="\"$hashes\"" -c "$f" -o "$work/$(basename "$f").o"
done
$CXX $flags -c $K/emu/switch_x86_64.S -o "$work/switch.o"
$CXX $flags -x c++ -c $K/selftest.cu -o "$work/selftest.o"
CGO_ENABLED=0 $GO test -c -o "$work/cuda.test" ./engine/cuda

total=$(grep -c '__syncthreads();' $SRC)
if [ $# -gt 0 ]; then which="$*"; else which=$(seq 1 "$total"); fi
survivors=""
for n in $which; do
  line=$(grep -n '__syncthreads();' $SRC | sed -n "${n}p" | cut -d: -f1)
  # Delete the n-th barrier only.
  awk -v n="$n" '{ if (index($0, "__syncthreads();")) { c++; if (c == n) sub(/__syncthreads\(\);/, "/* mutant: barrier removed */") } print }' \
    $SRC > "$work/step.cu"
  cp $K/jk_cuda.h $K/philox.cuh "$work/"
  $CXX $flags -I"$work" -x c++ -c "$work/step.cu" -o "$work/step.o"
  $CXX -shared -o "$work/libcuda-emu.so" "$work"/*.o -pthread
  if (cd engine/cuda && JKONET_REQUIRE_EMULATOR=1 JKONET_EMULATOR_LIB="$work/libcuda-emu.so" \
    "$work/cuda.test" -test.run "$TESTS" -test.failfast -test.v >"$work/out" 2>&1); then
    echo "barrier $n (step.cu:$line): SURVIVED: no test fails without it"
    survivors="$survivors $n"
  else
    # The innermost failing test and its first message.
    first=$(grep -- "--- FAIL" "$work/out" | tail -1 | sed "s/^ *--- FAIL: //; s/ ([0-9.]*s)\$//")
    why=$(grep '_test.go:[0-9]*:' "$work/out" | grep -v 'no GPU' | head -1 | sed 's/^ *//' | cut -c1-140)
    echo "barrier $n (step.cu:$line): caught by $first: $why"
  fi
done
if [ -n "$survivors" ]; then
  echo "mutants: barriers$survivors survive (a barrier no ordering needs should go; one a test should need, a test)"
  exit 1
fi
echo "mutants: every barrier removal is caught"
