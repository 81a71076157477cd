package couplings

import (
	"slices"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TestExactAboveTheOldLimit: a transition of 10001 × 10001 points in d = 2,
// above the 10^4 points that blocked every dimension before, is solved
// whole by default: the couplings are the kept pairs of ot.Exact's plan,
// which ot.Certify proves optimal on all n·m pairs, and the couplings
// record the limit in force (5·10^4). The old limit, asked for, blocks the
// same points in 2 spatial blocks at a higher cost.
func TestExactAboveTheOldLimit(t *testing.T) {
	const n, m, d = 10001, 10001, 2
	set := randomSet(11, d, []float64{0, 1}, []int{n, m})
	opts := DefaultOptions()
	opts.Components = 1
	got, rep, err := Compute(set, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tr := rep.Transitions[0]; tr.Blocks != 0 || tr.Automatic {
		t.Fatalf("report %+v: blocked, want one exact solve", tr)
	}
	if got.Provenance.Options.ExactMax != 50000 {
		t.Errorf("provenance records exact_max %d, want 50000", got.Provenance.Options.ExactMax)
	}
	snaps := set.Snapshots()
	x, y := snaps[0].X, snaps[1].X
	plan, err := ot.Exact(x, y, d, ot.SqEuclidean)
	if err != nil {
		t.Fatal(err)
	}
	if err := ot.Certify(x, y, d, ot.SqEuclidean, plan); err != nil {
		t.Fatalf("the exact plan is not certified: %v", err)
	}
	kept := ot.FilterPairs(plan)
	if len(kept) != got.Len() {
		t.Fatalf("%d couplings, the exact plan keeps %d pairs", got.Len(), len(kept))
	}
	for p, q := range kept {
		if !slices.Equal(got.X[p*d:(p+1)*d], x[q.I*d:(q.I+1)*d]) || !slices.Equal(got.Y[p*d:(p+1)*d], y[q.J*d:(q.J+1)*d]) || got.W[p] != q.W {
			t.Fatalf("pair %d differs from the exact plan's (%d, %d, %v)", p, q.I, q.J, q.W)
		}
	}

	old := opts
	old.ExactMax = 10000
	_, oldRep, err := Compute(set, old)
	if err != nil {
		t.Fatal(err)
	}
	if tr := oldRep.Transitions[0]; tr.Blocks != 2 || !tr.Automatic || !(tr.Cost > rep.Transitions[0].Cost) {
		t.Errorf("--exact-max 10000: %d blocks (automatic %v) at cost %v; want 2 automatic blocks costing more than the exact %v",
			tr.Blocks, tr.Automatic, tr.Cost, rep.Transitions[0].Cost)
	}
}
