#!/bin/bash
# fuzz.sh: runs every fuzz target of the repository (the readers of the files
# users give the program: npz, snapshot, safetensors, modelfile, couplings,
# h5ad),
# one after another, and stops at the first failure.
#
#   scripts/fuzz.sh [budget]      per target: N seconds, or Nx executions;
#                                 default 60 (make test runs 1000x)
#
# Targets are found as the `func FuzzXxx(f *testing.F)` of each package's
# _test.go files, so a new one is picked up without editing this script.
# Each runs as
#
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime BUDGET -fuzzminimizetime 5s ./pkg
#
# A time budget can end in "context deadline exceeded" with no failing input
# written: a race in Go's fuzzing coordinator at the -fuzztime boundary
# (golang/go#75804, fixed in Go 1.27), not a finding. Such a run is reported
# and passed over; a real finding always writes its input. An execution
# count (Nx) has no deadline, so make test's short pass uses one.
#
# (-fuzzminimizetime: Go's default of 60 s spent shrinking every new input
# that widens coverage would take most of a short run). A failure leaves the
# input in pkg/testdata/fuzz/FuzzXxx/, where plain `go test` (and so
# `make test`) replays it until the bug is fixed; keep it as a seed then.
# Each target runs under an address-space limit (ulimit -v, FUZZ_AS_KB,
# default 2000000: 2 GB), as the test binary built first with go test -c -fuzz,
# so an input that makes a reader allocate gigabytes fails the target
# (Go's "out of memory" death) instead of the machine; the readers bound
# what they allocate against the memory budget that limit leaves
# (internal/membudget). FUZZ_AS_KB=unlimited turns the limit off.
# Environment: GO (default go), FUZZ_MINIMIZE (default 5s), FUZZ_AS_KB.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
budget=${1:-60}
minimize=${FUZZ_MINIMIZE:-5s}
as_kb=${FUZZ_AS_KB:-2000000}
module=$("$GO" list -m)
fuzzcache=$("$GO" env GOCACHE)/fuzz
case $budget in
  '' | x | *[!0-9x]* | *x*x | *x?*) echo "usage: scripts/fuzz.sh [seconds | executions followed by x]" >&2; exit 2 ;;
  *x) fuzztime=$budget ;;
  *) fuzztime=${budget}s ;;
esac

# "pkg target" lines, sorted, from the test files that declare fuzz targets.
targets=$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|./\1 \2|' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi
count=$(echo "$targets" | wc -l)
echo "fuzz.sh: $count targets, $fuzztime each"
log=$(mktemp)
bin=$(mktemp -d)
trap 'rm -rf "$log" "$bin"' EXIT
while read -r pkg name; do
  echo "== $pkg $name ($fuzztime, ulimit -v $as_kb)"
  test=$bin/$(echo "$pkg" | tr / _)_$name.test
  # -fuzz at build time instruments the binary for coverage guidance.
  if ! "$GO" test -c -fuzz "^${name}\$" -o "$test" "$pkg"; then
    echo "fuzz.sh: $pkg does not build" >&2
    exit 1
  fi
  # What go test -fuzz runs: the binary in the package's directory, with
  # the fuzzing cache go test would give it.
  if (cd "$pkg" && ulimit -v "$as_kb" && exec "$test" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
    -test.fuzzminimizetime "$minimize" -test.fuzzcachedir "$fuzzcache/$module/${pkg#./}") 2>&1 | tee "$log"; test "${PIPESTATUS[0]}" -eq 0; then
    continue
  fi
  if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
    echo "fuzz.sh: $pkg $name stopped on Go's fuzztime deadline race (golang/go#75804), no failing input: not a finding"
    continue
  fi
  echo "fuzz.sh: $pkg $name FAILED (the input is in $pkg/testdata/fuzz/$name/)" >&2
  exit 1
done <<< "$targets"
echo "fuzz.sh: all $count targets ran $fuzztime without a failure"
