#!/bin/bash
# fuzz.sh: runs every fuzz target of the repository (the readers of the files
# users give the program: npz, snapshot, safetensors, modelfile, couplings),
# one after another, and stops at the first failure.
#
#   scripts/fuzz.sh [seconds]     seconds per target, default 60
#
# Targets are found as the `func FuzzXxx(f *testing.F)` of each package's
# _test.go files, so a new one is picked up without editing this script.
# Each runs as
#
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime ${seconds}s -fuzzminimizetime 5s ./pkg
#
# (-fuzzminimizetime: Go's default of 60 s spent shrinking every new input
# that widens coverage would take most of a short run). A failure leaves the
# input in pkg/testdata/fuzz/FuzzXxx/, where plain `go test` (and so
# `make test`) replays it until the bug is fixed; keep it as a seed then.
# Environment: GO (default go), FUZZ_MINIMIZE (default 5s).
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
seconds=${1:-60}
minimize=${FUZZ_MINIMIZE:-5s}
case $seconds in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds]" >&2; exit 2 ;;
esac

# "pkg target" lines, sorted, from the test files that declare fuzz targets.
targets=$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|./\1 \2|' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi
count=$(echo "$targets" | wc -l)
echo "fuzz.sh: $count targets, ${seconds}s each"
while read -r pkg name; do
  echo "== $pkg $name (${seconds}s)"
  if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "${seconds}s" -fuzzminimizetime "$minimize" "$pkg"; then
    echo "fuzz.sh: $pkg $name FAILED (the input is in $pkg/testdata/fuzz/$name/)" >&2
    exit 1
  fi
done <<< "$targets"
echo "fuzz.sh: all $count targets ran ${seconds}s without a failure"
