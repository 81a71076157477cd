package bench

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jkonet-gpu/jkonet-gpu/ot"
)

// TestCompareExactOTPOT solves a small square and a small rectangular case
// with ot.Exact and POT's ot.emd: the optimal costs must agree to
// OTCostTolerance, and both sides' CPU times are measured.
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
		if !(r.GoCPUSeconds > 0 && r.POTCPUSeconds > 0 && r.CPURatio == r.GoCPUSeconds/r.POTCPUSeconds) {
			t.Errorf("%s: CPU seconds go %v, POT %v, ratio %v", r.Case.Name(), r.GoCPUSeconds, r.POTCPUSeconds, r.CPURatio)
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

// TestExactMassesPOT solves weighted problems (integer masses, unequal and
// coprime sizes) with ot.ExactMasses, with ot.ExactWeights on the float
// weights s_i/S, t_j/S, and with POT's ot.emd on those weights; then
// random float weights, which ot.ExactWeights rounds onto its grid, with
// both: the optimal costs agree to OTCostTolerance and the plans are
// certified.
func TestExactMassesPOT(t *testing.T) {
	if err := PeerAvailable("ot", "scipy"); err != nil {
		t.Skip(err)
	}
	for _, c := range []OTCase{{N: 80, M: 120, D: 2, Seed: 3}, {N: 97, M: 60, D: 5, Seed: 4}, {N: 101, M: 101, D: 3, Seed: 5}} {
		x, y, err := OTData(c)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(c.Seed, 7))
		s, u := make([]int64, c.N), make([]int64, c.M)
		var total int64
		for i := range s {
			s[i] = 1 + rng.Int64N(int64(c.M))
			total += s[i]
		}
		for j := range u {
			u[j] = 1
		}
		for left := total - int64(c.M); left > 0; left-- {
			u[rng.IntN(c.M)]++
		}
		p, err := ot.ExactMasses(x, y, c.D, ot.SqEuclidean, s, u)
		if err != nil {
			t.Fatal(err)
		}
		if err := ot.CertifyMasses(x, y, c.D, ot.SqEuclidean, s, u, p); err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		a, b := make([]float64, c.N), make([]float64, c.M)
		for i, v := range s {
			a[i] = float64(v) / float64(total)
		}
		for j, v := range u {
			b[j] = float64(v) / float64(total)
		}
		potCost := potWeightedCost(t, c, x, y, a, b)
		// The float weights POT took, as ot.ExactWeights takes them.
		pw, err := ot.ExactWeights(x, y, c.D, ot.SqEuclidean, a, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []*ot.Plan{p, pw} {
			if diff := math.Abs(got.Cost-potCost) / potCost; diff > OTCostTolerance {
				t.Errorf("%s: cost go %.17g, POT %.17g (relative difference %.2g)", c.Name(), got.Cost, potCost, diff)
			}
		}
		t.Logf("%s weighted: go %.15g (float weights %.15g), POT %.15g", c.Name(), p.Cost, pw.Cost, potCost)
		checkFloatWeightsPOT(t, c, x, y, rng)
	}
}

// checkFloatWeightsPOT gives ot.ExactWeights and POT's ot.emd the same
// random float weights (uniform on (0, 1], one in five of them 10^-6 as
// large, normalised): the costs agree to OTCostTolerance, the weights
// took the grid, and the plan is certified on its masses.
func checkFloatWeightsPOT(t *testing.T, c OTCase, x, y []float64, rng *rand.Rand) {
	t.Helper()
	a, b := make([]float64, c.N), make([]float64, c.M)
	for _, w := range [][]float64{a, b} {
		var sum float64
		for i := range w {
			w[i] = 1 - rng.Float64()
			if rng.IntN(5) == 0 {
				w[i] *= 1e-6
			}
			sum += w[i]
		}
		for i := range w {
			w[i] /= sum
		}
	}
	potCost := potWeightedCost(t, c, x, y, a, b)
	p, err := ot.ExactWeights(x, y, c.D, ot.SqEuclidean, a, b)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ot.MassesOfWeights(c.N, c.M, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Rounded || w.MaxError >= 1/float64(w.Total) {
		t.Errorf("%s float weights: rounded %v, error %v on the grid 1/%d; want the grid and an error below its unit", c.Name(), w.Rounded, w.MaxError, w.Total)
	}
	if err := ot.CertifyMasses(x, y, c.D, ot.SqEuclidean, w.S, w.T, p); err != nil {
		t.Errorf("%s float weights: %v", c.Name(), err)
	}
	if diff := math.Abs(p.Cost-potCost) / potCost; diff > OTCostTolerance {
		t.Errorf("%s float weights: cost go %.17g, POT %.17g (relative difference %.2g)", c.Name(), p.Cost, potCost, diff)
	}
	t.Logf("%s float weights: go %.17g, POT %.17g, grid 1/%d, largest error %.3g, ε %.3g", c.Name(), p.Cost, potCost, w.Total, w.MaxError, w.L1)
}

// TestExactOTAtScale: ot-scale's row on a small case: the exact plan
// certified, its cost the one ot.Exact finds, and the spatial blocks beside
// it no cheaper, with their count; no blocks where the block is not smaller.
func TestExactOTAtScale(t *testing.T) {
	c := OTCase{N: 300, M: 301, D: 2, Seed: 3}
	results, err := ExactOTAtScale([]OTCase{c, {N: 50, M: 50, D: 5, Seed: 3}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := OTData(c)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ot.Exact(x, y, c.D, ot.SqEuclidean)
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if !r.Certified || r.Cost != plan.Cost || r.Blocks != 4 || r.Block != 100 || !(r.BlockCost > r.Cost) || r.PeakRSS <= 0 {
		t.Errorf("%s: %+v; want certified at cost %v, 4 dearer blocks of 100, a peak RSS", c.Name(), r, plan.Cost)
	}
	if s := r.String(); !strings.Contains(s, "certified") || !strings.Contains(s, "4 spatial blocks of ≤ 100") {
		t.Errorf("row %q names neither the certificate nor the blocks", s)
	}
	if r := results[1]; !r.Certified || r.Blocks != 0 || strings.Contains(r.String(), "blocks") {
		t.Errorf("50 × 50 with blocks of 100: %+v, %q; want certified and no blocks", r, r.String())
	}
	if _, err := ExactOTAtScale([]OTCase{c}, -1); err == nil || err.Error() != "--block: expected a block size ≥ 0, got -1" {
		t.Errorf("block -1: %v", err)
	}
}

// potWeightedCost returns POT's optimal cost between the points x and y of
// case c with the weights a and b, failing t on POT's warning.
func potWeightedCost(t *testing.T, c OTCase, x, y, a, b []float64) float64 {
	t.Helper()
	var peer struct {
		Cost    float64 `json:"cost"`
		Warning *string `json:"warning"`
	}
	args := map[string]any{"n": c.N, "m": c.M, "d": c.D, "num_itermax": potNumItermax}
	if err := RunPeer(otEMDScript, args, map[string][]float64{"x": x, "y": y, "a": a, "b": b}, &peer); err != nil {
		t.Fatal(err)
	}
	if peer.Warning != nil {
		t.Fatalf("%s weighted: POT: %s", c.Name(), *peer.Warning)
	}
	return peer.Cost
}
