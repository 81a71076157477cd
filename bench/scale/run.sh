#!/bin/sh
# The scale run of README "Scale": 5 snapshots of 10^5 training cells each
# (and as many held-out cells), in d = 5 and d = 50, end to end — preprocess
# (couplings and density scores), train, eval — with each phase's wall time,
# CPU time and peak resident memory (/usr/bin/time -v), written to
# bench/scale/results.md. Not part of `make test`: on 2 cores it takes 15–20
# minutes of CPU time (more wall time on a shared machine), under nice -n 10.
#
#   make build && sh bench/scale/run.sh
#
# README's d = 5 table couples the snapshots exactly, without blocks (4
# transitions of 10^5 × 10^5 points, LAPJV with k-d trees; preprocess took
# 312 s of CPU and 426 MiB on 2026-12-07):
#
#   make build && DIMS=5 EXTRA="--exact-max 0" sh bench/scale/run.sh
#
# By default (--exact-max auto) d = 5 solves them in 2 spatial blocks of
# 5·10^4 points and d = 50 in 10 blocks of 10^4 (exact in d = 50 would take
# hours a transition).
#
# Settings (environment): DIMS ("5 50"), CELLS (training cells per snapshot,
# 100000), EPOCHS (20), MODEL (time-potential), PCA (k: a `prepare --pca k`
# phase fits the principal components on the training cells first; train
# records them and eval applies them to the raw test cells), EXTRA (more
# flags for preprocess and train, e.g. "--exact-max 0"), JK (the binary,
# bin/jkonet-gpu), WORK (a directory for the data, about 1.5 GB at d = 50;
# default a fresh temporary one, removed at the end), OUT (the report).
#
# The cells are synthetic: `generate` (styblinski_tang, β 0.1, 5 snapshots
# of 2·CELLS particles), split by population 50/50 so that training and test
# cells are different particles, as for real cells.
set -eu
JK=${JK:-bin/jkonet-gpu}
DIMS=${DIMS:-"5 50"}
CELLS=${CELLS:-100000}
EPOCHS=${EPOCHS:-20}
MODEL=${MODEL:-time-potential}
EXTRA=${EXTRA:-}
PCA=${PCA:-}
OUT=${OUT:-bench/scale/results.md}
KEEP=${WORK:+yes}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
[ -n "$KEEP" ] || trap 'rm -rf "$WORK"' EXIT
[ -x "$JK" ] || { echo "bench/scale/run.sh: $JK is missing; run make build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/scale/run.sh: needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 1; }

body="$WORK/body.md"
: >"$body"

# phase NAME D CMD...: runs CMD under nice and /usr/bin/time -v, its stdout
# to $WORK/dD.NAME.out, and adds a row to the table.
phase() {
	name=$1 d=$2
	shift 2
	log="$WORK/d$d.$name"
	echo "d=$d $name: $*" >&2
	if ! /usr/bin/time -v -o "$log.time" nice -n 10 "$@" >"$log.out" 2>"$log.err"; then
		cat "$log.err" >&2
		exit 1
	fi
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log.time")
	user=$(sed -n 's/.*User time (seconds): //p' "$log.time")
	sys=$(sed -n 's/.*System time (seconds): //p' "$log.time")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
	printf '| %s | %s | %s | %.1f s | %.0f MiB |\n' "$d" "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)" >>"$WORK/table.md"
}

: >"$WORK/table.md"
for d in $DIMS; do
	phase generate "$d" "$JK" generate --potential styblinski_tang --beta 0.1 --dim "$d" --particles $((2 * CELLS)) --steps 4 --quiet --out "$WORK/all$d.npz"
	phase split "$d" "$JK" split --data "$WORK/all$d.npz" --by population --test-fraction 0.5 --quiet --train "$WORK/train$d.npz" --test "$WORK/test$d.npz"
	rm "$WORK/all$d.npz"
	train="$WORK/train$d.npz"
	if [ -n "$PCA" ]; then
		phase prepare "$d" "$JK" prepare --data "$train" --pca "$PCA" --out "$WORK/prepared$d.npz"
		train="$WORK/prepared$d.npz"
	fi
	# shellcheck disable=SC2086 # EXTRA is a list of flags
	phase preprocess "$d" "$JK" preprocess --data "$train" --out "$WORK/couplings$d.npz" $EXTRA
	# shellcheck disable=SC2086
	phase train "$d" "$JK" train --data "$train" --couplings "$WORK/couplings$d.npz" --model "$MODEL" --epochs "$EPOCHS" --device cpu --checkpoint-every 0 --out "$WORK/model$d.safetensors" $EXTRA
	phase eval "$d" "$JK" eval --model "$WORK/model$d.safetensors" --data "$WORK/test$d.npz"
	{
		printf '\n### d = %s\n\n```\n' "$d"
		for p in ${PCA:+prepare} preprocess train eval; do
			echo "\$ jkonet-gpu $p …"
			cat "$WORK/d$d.$p.err" "$WORK/d$d.$p.out" | sed "s|$WORK/||g"
		done
		printf '```\n'
	} >>"$body"
	rm -f "$WORK/train$d.npz" "$WORK/prepared$d.npz" "$WORK/test$d.npz" "$WORK/couplings$d.npz"
done

{
	echo "# Scale run: 5 snapshots × $CELLS cells"
	echo
	echo "Produced by \`bench/scale/run.sh\` (README \"Scale\"), $(date -u '+%Y-%m-%d %H:%M UTC'), $($JK version 2>/dev/null || echo jkonet-gpu)."
	echo "Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB memory, no GPU; shared with other jobs (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)), every phase under nice -n 10."
	echo "Data: \`generate --potential styblinski_tang --beta 0.1 --steps 4 --particles $((2 * CELLS))\`, split by population 50/50: $CELLS training and $CELLS test cells per snapshot. Model $MODEL, $EPOCHS epochs, --device cpu${PCA:+, after \`prepare --pca $PCA\` on the training cells (d is the input dimension)}${EXTRA:+, extra flags: $EXTRA}."
	echo
	echo "| d | phase | wall (h:mm:ss) | CPU (user + sys) | peak RSS |"
	echo "|---|---|---|---|---|"
	cat "$WORK/table.md"
	echo
	echo "## What each phase printed"
	cat "$body"
} >"$OUT"
echo "wrote $OUT" >&2
