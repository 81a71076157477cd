#!/usr/bin/env bash
# The single-cell protocols (README "Quality on real cells"): for each data
# set and seed, a 60/40 split within each day (split --by population), a
# time-potential model trained on the 60%, and the one-step W1 of its
# predictions of the held-out cells (eval), beside no motion and the
# same-day sampling floor (bench/protocols/summary). Writes a markdown table.
#
#   bench/protocols/run.sh [DATA_DIR]   (default: ../shared/data from the repository root)
#
# DATA_DIR holds eb_nlsb/test_rna_pc5.csv (embryoid body, 1750 cells, the
# first 5 PCs) and tigon/emt.npz, tigon/lineage.npz (times in days).
# Environment: SEEDS ("0 1 2 3 4"), EPOCHS (the train default), DEVICE
# (cpu), SETS ("eb emt lineage"), OUT (bench/protocols/results.md),
# BIN (a jkonet-gpu binary to measure instead of building this checkout's,
# e.g. an older version for a before/after table; LABEL names it in the
# output). Not part of make test: about 15 minutes on one core (GOMAXPROCS=1).
set -euo pipefail
DATA=${1:-}
if [ -n "$DATA" ]; then DATA=$(cd "$DATA" && pwd); fi
cd "$(dirname "$0")/../.."
DATA=${DATA:-$(cd ../shared/data && pwd)}
SEEDS=${SEEDS:-0 1 2 3 4}
DEVICE=${DEVICE:-cpu}
SETS=${SETS:-eb emt lineage}
OUT=${OUT:-bench/protocols/results.md}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -z "${BIN:-}" ]; then
	go build -o "$WORK/jkonet-gpu" ./cmd/jkonet-gpu
	BIN=$WORK/jkonet-gpu
	LABEL=${LABEL:-commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
fi
go build -o "$WORK/summary" ./bench/protocols/summary
epochs=()
if [ -n "${EPOCHS:-}" ]; then epochs=(--epochs "$EPOCHS"); fi

# protocol NAME DATA PUBLISHED [TRANSFORM FLAGS]: one table row.
protocol() {
	local name=$1 data=$2 published=$3
	shift 3
	local dirs=() seed d
	for seed in $SEEDS; do
		d=$WORK/$name/seed$seed
		mkdir -p "$d"
		"$BIN" split --data "$data" --by population --test-fraction 0.4 --seed "$seed" \
			--train "$d/raw_train.npz" --test "$d/raw_test.npz" --quiet
		"$BIN" train --data "$d/raw_train.npz" "$@" --model time-potential "${epochs[@]}" --seed "$seed" \
			--device "$DEVICE" --checkpoint-every 0 --quiet --out "$d/m.safetensors" 2>>"$WORK/log"
		"$BIN" eval --model "$d/m.safetensors" --data "$d/raw_test.npz" --json >"$d/eval.json" 2>>"$WORK/log"
		# The cells in the coordinates eval measured in, for the sampling floor.
		"$BIN" prepare --data "$d/raw_train.npz" --transform-from "$d/m.safetensors" --out "$d/train.npz" --quiet
		"$BIN" prepare --data "$d/raw_test.npz" --transform-from "$d/m.safetensors" --out "$d/test.npz" --quiet
		dirs+=("$d")
		echo "$name seed $seed: done" >&2
	done
	"$WORK/summary" -name "$name" -published "$published" "${dirs[@]}"
}

start=$(date +%s)
rows=""
for set in $SETS; do
	case $set in
	eb) rows+=$(protocol "embryoid body (5 PCs, standardised)" "$DATA/eb_nlsb/test_rna_pc5.csv" \
		"JKOnet* 0.62 (W1, all 16.8k cells)" --dims 5 --standardize)$'\n' ;;
	emt) rows+=$(protocol "EMT (3-D, days 0, 1/3, 1, 3, 7)" "$DATA/tigon/emt.npz" "—")$'\n' ;;
	lineage) rows+=$(protocol "lineage (2-D, days 2, 4, 6)" "$DATA/tigon/lineage.npz" "—")$'\n' ;;
	*) echo "unknown set $set (expected eb, emt, lineage)" >&2; exit 2 ;;
	esac
done
{
	echo "<!-- written by bench/protocols/run.sh; $(date -u +%Y-%m-%dT%H:%MZ), ${LABEL:-$BIN}, device $DEVICE, epochs ${EPOCHS:-default}, $(($(date +%s) - start)) s -->"
	echo "| data | seeds | model W1 | no motion W1 | floor W1 | model / no motion | floor / no motion | published |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '%s' "$rows"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
