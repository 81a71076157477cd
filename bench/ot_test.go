package bench

import "testing"

// TestCompareExactOTPOT solves a small square and a small rectangular case
// with ot.Exact and POT's ot.emd: the optimal costs must agree to
// OTCostTolerance.
func TestCompareExactOTPOT(t *testing.T) {
	if err := PeerAvailable("ot", "scipy"); err != nil {
		t.Skip(err)
	}
	cases := []OTCase{{N: 60, M: 60, D: 2, Seed: 1}, {N: 40, M: 70, D: 3, Seed: 2}}
	results, err := CompareExactOT(cases, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		t.Log(r)
		if !r.CostsAgree() {
			t.Errorf("%s: cost go %.17g, POT %.17g (relative difference %.2g, POT warning %q)",
				r.Case.Name(), r.GoCost, r.POTCost, r.RelCostDiff, r.POTWarning)
		}
	}
}

// BenchmarkCompareExactOT prints the side-by-side table of the default cases
// (go test -run '^$' -bench CompareExactOT -benchtime 1x ./bench/).
func BenchmarkCompareExactOT(b *testing.B) {
	if err := PeerAvailable("ot", "scipy"); err != nil {
		b.Skip(err)
	}
	for range b.N {
		results, err := CompareExactOT(DefaultOTCases(), 5)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			b.Log(r)
		}
	}
}

// TestOTShapeCases: each size gives the equal, unequal and coprime shapes in
// every dimension, and POT runs only where its cost matrix fits.
func TestOTShapeCases(t *testing.T) {
	got := OTShapeCases([]int{10, 1000}, []int{2, 50}, nil)
	want := []OTCase{
		{N: 10, M: 10, D: 2, Seed: 1}, {N: 10, M: 15, D: 2, Seed: 1}, {N: 10, M: 11, D: 2, Seed: 1},
		{N: 1000, M: 1000, D: 2, Seed: 1}, {N: 1000, M: 1500, D: 2, Seed: 1}, {N: 1000, M: 1001, D: 2, Seed: 1},
		{N: 10, M: 10, D: 50, Seed: 1}, {N: 10, M: 15, D: 50, Seed: 1}, {N: 10, M: 11, D: 50, Seed: 1},
		{N: 1000, M: 1000, D: 50, Seed: 1}, {N: 1000, M: 1500, D: 50, Seed: 1}, {N: 1000, M: 1001, D: 50, Seed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d cases, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, c := range []struct {
		c    OTCase
		fits bool
	}{{OTCase{N: 10000, M: 15000}, true}, {OTCase{N: 30000, M: 30001}, false}, {OTCase{N: 100000, M: 100000}, false}} {
		if potFits(c.c) != c.fits {
			t.Errorf("%s: POT fits %v, want %v", c.c.Name(), !c.fits, c.fits)
		}
	}
}
