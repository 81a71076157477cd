package couplings

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/internal/progress"
	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TestBlockingChoice: where exact OT is blocked on its own, by size and
// dimension: 10^4 points a side above d = 8, 5·10^4 in d ≤ 8.
func TestBlockingChoice(t *testing.T) {
	def := DefaultOptions()
	sinkhorn := def
	sinkhorn.Method = "sinkhorn"
	explicit := def
	explicit.Block = 500
	never := def
	never.ExactMax = 0
	fixed := def
	fixed.ExactMax = 10000
	for _, c := range []struct {
		name      string
		opts      Options
		n, m, d   int
		block     int
		order     string
		automatic bool
	}{
		{"at the threshold, d = 50", def, 20000, 20000, 50, 0, "index", false},
		{"one above, d = 50", def, 20001, 20000, 50, 10001, "spatial", true},
		{"10^5 cells, d = 50", def, 100000, 100000, 50, 20000, "spatial", true},
		{"uneven sizes, d = 9", def, 100000, 25001, 9, 20000, "spatial", true},
		{"4 blocks, d = 50", def, 60001, 100, 50, 15001, "spatial", true},
		{"10^4 + 1 cells, d = 8", def, 10001, 10000, 8, 0, "index", false},
		{"at the threshold, d = 1", def, 50000, 3, 1, 0, "index", false},
		{"one above, d = 2", def, 50000, 50001, 2, 25001, "spatial", true},
		{"10^5 cells, d = 5", def, 100000, 100000, 5, 50000, "spatial", true},
		{"3·10^5 cells, d = 5", def, 300000, 250000, 5, 50000, "spatial", true},
		{"--exact-max 10000 in d = 5", fixed, 100000, 100000, 5, 10000, "spatial", true},
		{"sinkhorn is never blocked on its own", sinkhorn, 100000, 100000, 50, 0, "index", false},
		{"an explicit block size wins", explicit, 100000, 100000, 50, 500, "index", false},
		{"exact-max 0", never, 100000, 100000, 50, 0, "index", false},
	} {
		block, order, auto := c.opts.Blocking(c.n, c.m, c.d)
		if block != c.block || order != c.order || auto != c.automatic {
			t.Errorf("%s: Blocking(%d, %d, %d) = %d, %s, %v; want %d, %s, %v", c.name, c.n, c.m, c.d, block, order, auto, c.block, c.order, c.automatic)
		}
	}
}

// TestDefaultExactMaxFollowsTrees: the default allows 5·10^4 points exactly
// where ot's exact solvers search k-d trees at that size, in d ≤ 8, and
// 2·10^4 above, where they pass over rows of costs; a change of ot's tree
// dimension fails here.
func TestDefaultExactMaxFollowsTrees(t *testing.T) {
	for d, want := range map[int]int{1: 50000, 2: 50000, 5: 50000, 8: 50000, 9: 20000, 50: 20000, 2000: 20000} {
		if got := DefaultExactMax(d); got != want {
			t.Errorf("DefaultExactMax(%d) = %d, want %d", d, got, want)
		}
		n := DefaultExactMax(d)
		for _, m := range []int{n, n - 1} {
			if trees := strings.HasSuffix(ot.Solver(n, m, d), "+ k-d trees"); trees != (d <= TreeMaxDim) {
				t.Errorf("d = %d, %d × %d: ot.Solver says %q; the default assumes k-d trees %v", d, n, m, ot.Solver(n, m, d), d <= TreeMaxDim)
			}
		}
	}
	if got := DefaultOptions().Resolved(7).ExactMax; got != 50000 {
		t.Errorf("auto resolved in d = 7: %d, want 50000", got)
	}
	if got := (Options{ExactMax: 123}).Resolved(7).ExactMax; got != 123 {
		t.Errorf("--exact-max 123 resolved in d = 7: %d, want 123", got)
	}
}

// TestAutomaticBlocksMatchExplicit: with the threshold forced low, the
// automatic choice (3 spatial blocks of 10 for 30 points) gives the
// couplings that asking for them gives, bit for bit, says so in its report,
// and differs from index and random blocks, at a lower cost than random
// blocks. Each block is a permutation, so every source is paired once with
// weight 1/n.
func TestAutomaticBlocksMatchExplicit(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1, 2}, []int{30, 30, 28})
	auto := DefaultOptions()
	auto.ExactMax, auto.Components, auto.Seed = 10, 2, 3
	explicit := auto
	explicit.ExactMax, explicit.Block, explicit.BlockOrder = 0, 10, "spatial"
	index, random := explicit, explicit
	index.BlockOrder, random.BlockOrder = "index", "random"

	var shown bytes.Buffer
	bar := progress.NewTo(&shown, "couplings", Work(set, auto))
	got, rep, err := ComputeProgress(set, auto, bar)
	if err != nil {
		t.Fatal(err)
	}
	want, wantRep, err := Compute(set, explicit)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]float64{"x": {got.X, want.X}, "y": {got.Y, want.Y}, "w": {got.W, want.W}, "tau": {got.Tau, want.Tau}, "score": {got.Score, want.Score}} {
		if !slices.Equal(pair[0], pair[1]) {
			t.Errorf("%s differs between the automatic and the explicit spatial blocks", name)
		}
	}
	if !slices.Equal(got.K, want.K) {
		t.Error("k differs between the automatic and the explicit spatial blocks")
	}
	for k, tr := range rep.Transitions {
		w := wantRep.Transitions[k]
		if !tr.Automatic || w.Automatic || tr.Blocks != 3 || tr.Block != 10 || tr.BlockOrder != "spatial" || w.Blocks != 3 || w.Cost != tr.Cost {
			t.Errorf("transition %d: report %+v, explicit %+v; want 3 spatial blocks of 10, automatic only in the first", k, tr, w)
		}
	}
	// Transition 0 (30 × 30): each source once, weight 1/30.
	seen := map[[2]float64]bool{}
	for p := range 30 {
		key := [2]float64{got.X[2*p], got.X[2*p+1]}
		if seen[key] || got.W[p] != 1.0/30 || got.K[p] != 0 {
			t.Fatalf("pair %d: source seen twice or weight %v ≠ 1/30", p, got.W[p])
		}
		seen[key] = true
	}
	byIndex, _, err := Compute(set, index)
	if err != nil {
		t.Fatal(err)
	}
	byRandom, randomRep, err := Compute(set, random)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(byIndex.Y, got.Y) || slices.Equal(byRandom.Y, got.Y) {
		t.Error("index or random blocks gave the same pairs as spatial blocks")
	}
	for k, tr := range rep.Transitions {
		if r := randomRep.Transitions[k]; tr.Cost >= r.Cost || r.BlockOrder != "random" {
			t.Errorf("transition %d: spatial blocks cost %v, random blocks (%s) %v; want spatial cheaper", k, tr.Cost, r.BlockOrder, r.Cost)
		}
	}
	if Work(set, auto) != 8 || Work(set, explicit) != 8 || Work(set, index) != 8 || Work(set, DefaultOptions()) != 4 {
		t.Errorf("work units: automatic %d, explicit %d, index %d, unblocked %d; want 8, 8, 8, 4",
			Work(set, auto), Work(set, explicit), Work(set, index), Work(set, DefaultOptions()))
	}
	if !strings.Contains(shown.String(), "couplings 8/8") {
		t.Errorf("progress did not reach 8/8: %q", shown.String())
	}
}

func TestBlockingOptionsRefused(t *testing.T) {
	set := randomSet(6, 2, []float64{0, 1}, []int{5, 5})
	order := DefaultOptions()
	order.BlockOrder = "sideways"
	negative := DefaultOptions()
	negative.ExactMax = -2
	for flag, opts := range map[string]Options{"--ot-block-order": order, "--exact-max": negative} {
		if _, _, err := Compute(set, opts); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v, want an error naming the flag", flag, err)
		}
	}
}
