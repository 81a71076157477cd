package couplings

import (
	"testing"
)

// TestCachedCouplingsServeAnySeed: couplings computed with one seed are
// reused when training asks for another (a seed sweep on one preprocess),
// and the other options are still compared.
func TestCachedCouplingsServeAnySeed(t *testing.T) {
	set := randomSet(5, 2, []float64{0, 1}, []int{10, 12})
	r, _ := obtainFixture(t)
	first, err := LoadOrCompute(set, *r)
	if err != nil {
		t.Fatal(err)
	}
	first.W[0] = 0.125 // a mark that recomputing would not reproduce
	if err := first.Save(r.File); err != nil {
		t.Fatal(err)
	}
	other := *r
	other.Options.Seed = r.Options.Seed + 2
	again, err := LoadOrCompute(set, other)
	if err != nil || again.W[0] != 0.125 {
		t.Fatalf("--seed %d on couplings of seed %d: w[0] = %v, %v; want the file's couplings", other.Options.Seed, r.Options.Seed, again.W[0], err)
	}
	if again.Provenance.Options.Seed != r.Options.Seed {
		t.Errorf("the couplings' provenance says seed %d, want the seed they were computed with (%d)", again.Provenance.Options.Seed, r.Options.Seed)
	}
	other.Options.Components++
	if _, err := LoadOrCompute(set, other); err == nil {
		t.Error("other components with another seed: the file was reused")
	}
}
