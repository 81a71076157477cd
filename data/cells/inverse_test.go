package cells

import (
	"math"
	"testing"
)

// TestInverseUndoesExactSteps: --dims and --standardize are undone to the
// last bits: the first Dims columns of the cells come back.
func TestInverseUndoesExactSteps(t *testing.T) {
	set := lowRank(40, 6, []float64{5, 3, 1}, 0.1, 2)
	for _, opts := range []Options{{Standardize: true}, {Dims: 4}, {Dims: 4, Standardize: true}} {
		tr, err := Fit(set, opts)
		if err != nil {
			t.Fatal(err)
		}
		y, err := tr.Apply(set)
		if err != nil {
			t.Fatal(err)
		}
		back, kept := tr.Inverse(y.X, set.Len()), tr.KeptDim()
		if !tr.Exact() || len(back) != set.Len()*kept {
			t.Fatalf("%s: exact %v, %d values back, want %d", opts, tr.Exact(), len(back), set.Len()*kept)
		}
		for i := range set.Len() {
			for j := range kept {
				if got, want := back[i*kept+j], set.X[i*set.D+j]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
					t.Fatalf("%s: row %d column %d back as %v, want %v", opts, i, j, got, want)
				}
			}
		}
	}
}

// TestInversePCABackProjects: a PCA's inverse gives points of its span
// that project back on the same coordinates (Apply ∘ Inverse = identity),
// and the cells themselves when they lie in the span.
func TestInversePCABackProjects(t *testing.T) {
	set := lowRank(50, 7, []float64{4, 2}, 0, 3) // rank 2 around the mean: in the span of 2 components
	tr, err := Fit(set, Options{PCA: 2, Standardize: true})
	if err != nil {
		t.Fatal(err)
	}
	y, err := tr.Apply(set)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Exact() {
		t.Error("a PCA reports an exact inverse")
	}
	back := tr.Inverse(y.X, set.Len())
	for i, want := range set.X {
		if math.Abs(back[i]-want) > 1e-9*(1+math.Abs(want)) {
			t.Fatalf("value %d back as %v, want %v (the cells lie in the span)", i, back[i], want)
		}
	}
	noisy := lowRank(50, 7, []float64{4, 2}, 0.5, 4)
	yn, err := tr.Apply(noisy)
	if err != nil {
		t.Fatal(err)
	}
	again := tr.apply(tr.Inverse(yn.X, noisy.Len()), noisy.Len())
	for i, want := range yn.X {
		if math.Abs(again[i]-want) > 1e-9*(1+math.Abs(want)) {
			t.Fatalf("coordinate %d: Apply(Inverse(y)) = %v, want %v", i, again[i], want)
		}
	}
}
