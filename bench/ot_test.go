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
